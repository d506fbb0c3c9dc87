import { Injectable } from '@nestjs/common';
import { PassportSerializer } from '@nestjs/passport';
import { userById, type User } from './users.js';

/** Keeps only the user's id in the session (`passport.user`); the user is looked up per request. */
@Injectable()
export class SessionSerializer extends PassportSerializer {
  serializeUser(user: User, done: (error: Error | null, id?: number) => void): void {
    done(null, user.id);
  }

  deserializeUser(id: unknown, done: (error: Error | null, user?: User | false) => void): void {
    done(null, userById(id) ?? false);
  }
}
