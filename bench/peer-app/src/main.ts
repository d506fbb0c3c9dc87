// The peer of `npm run bench` and `npm run bench:cost`: the same routes as the sample app, on NestJS
// with express-session, wired as NestJS's session docs show (https://docs.nestjs.com/techniques/session).
// PEER_STORE=memory: express-session's MemoryStore; PEER_STORE=redis: connect-redis on REDIS_URL
// (node-redis client, as connect-redis's README shows, its connections named REDIS_CLIENT_NAME);
// PEER_STORE=none: no session layer at all (the handlers get an empty session each request), the floor
// that both session layers add to; otherwise connect-dynamodb on DYNAMODB_ENDPOINT. PORT comes from the bench.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NestFactory } from '@nestjs/core';
import connectDynamoDB from 'connect-dynamodb';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient } from 'redis';
import { PeerModule } from './peer.module.js';

const DynamoDBStore = connectDynamoDB(session);

async function redisStore(): Promise<session.Store> {
  const client = createClient({ url: process.env.REDIS_URL, name: process.env.REDIS_CLIENT_NAME });
  await client.connect();
  return new RedisStore({ client });
}

const store =
  process.env.PEER_STORE === 'none'
    ? undefined
    : process.env.PEER_STORE === 'memory'
      ? new session.MemoryStore()
      : process.env.PEER_STORE === 'redis'
        ? await redisStore()
        : new DynamoDBStore({
            table: process.env.PEER_TABLE ?? 'peer-sessions',
            client: new DynamoDBClient({ endpoint: process.env.DYNAMODB_ENDPOINT, region: process.env.AWS_REGION ?? 'us-east-1' }),
          });
const app = await NestFactory.create(PeerModule, { logger: ['error', 'warn'] });
// APP_SHAPE=interceptor: the app shape most real apps have, one global interceptor (a logging one,
// ClassSerializerInterceptor…), here a no-op, so every route runs Nest's interceptor pipeline.
if (process.env.APP_SHAPE === 'interceptor') app.useGlobalInterceptors({ intercept: (_context, next) => next.handle() });
if (store) {
  app.use(
    session({
      secret: 'bench-peer-secret',
      resave: false,
      saveUninitialized: false,
      store,
    }),
  );
}
await app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
// A plain exit after closing, so `node --cpu-prof` (bench/profile.mjs) writes its profile.
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
