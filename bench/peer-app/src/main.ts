// The peer of `npm run bench:cost`: the same routes as the sample app, on NestJS with
// express-session and connect-dynamodb, wired as NestJS's session docs show
// (https://docs.nestjs.com/techniques/session). DYNAMODB_ENDPOINT and PORT come from the bench.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NestFactory } from '@nestjs/core';
import connectDynamoDB from 'connect-dynamodb';
import session from 'express-session';
import { PeerModule } from './peer.module.js';

const DynamoDBStore = connectDynamoDB(session);
const app = await NestFactory.create(PeerModule, { logger: ['error', 'warn'] });
app.use(
  session({
    secret: 'bench-peer-secret',
    resave: false,
    saveUninitialized: false,
    store: new DynamoDBStore({
      table: process.env.PEER_TABLE ?? 'peer-sessions',
      client: new DynamoDBClient({ endpoint: process.env.DYNAMODB_ENDPOINT, region: process.env.AWS_REGION ?? 'us-east-1' }),
    }),
  }),
);
await app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
