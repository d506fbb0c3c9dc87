import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';
import { checkPassword, type User } from './users.js';

/** passport-local, as in NestJS's passport recipe: `null` is a failed login. */
@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy) {
  validate(username: string, password: string): User | null {
    return checkPassword(username, password);
  }
}
