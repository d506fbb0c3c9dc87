import fastifyPassport from '@fastify/passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { checkPassword, userById, type User } from './users.js';

/** @fastify/passport's authenticator of the Fastify app (one per application: no process-wide state). */
export type FastifyAuthenticator = InstanceType<typeof fastifyPassport.Authenticator>;
/** Its injection token. */
export const FASTIFY_AUTHENTICATOR = Symbol('FASTIFY_AUTHENTICATOR');

/** The same users and session contents (`passport`: the user's id) as on Express. */
export function createFastifyAuthenticator(): FastifyAuthenticator {
  const authenticator = new fastifyPassport.Authenticator();
  authenticator.use('local', new LocalStrategy((username, password, done) => done(null, checkPassword(username, password) ?? false)));
  authenticator.registerUserSerializer(async (user: User) => user.id);
  authenticator.registerUserDeserializer(async (id: unknown) => userById(id));
  return authenticator;
}
