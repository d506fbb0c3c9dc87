// A plain-JavaScript app on the built package, run by test/ops/optional-packages.spec.ts with
// @opentelemetry/api, @nestjs/terminus and @aws-sdk/client-dynamodb made unresolvable. Prints one JSON line.
import 'reflect-metadata';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Session, SessionRevoker, SessionStateModule } from 'nestjs-session-state';

class CountController {
  count(session) {
    const n = (session.get('n') ?? 0) + 1;
    session.set('n', n);
    session.owner = 'ann';
    return { n };
  }
}
const method = Object.getOwnPropertyDescriptor(CountController.prototype, 'count');
Post('count')(CountController.prototype, 'count', method);
HttpCode(200)(CountController.prototype, 'count', method);
Session()(CountController.prototype, 'count', 0);
Controller()(CountController);

class AppModule {}
Module({ imports: [SessionStateModule.forRoot({})], controllers: [CountController] })(AppModule);

const otel = await import('@opentelemetry/api').then(
  () => 'loadable',
  () => 'absent',
);
const terminus = await import('@nestjs/terminus').then(
  () => 'loadable',
  () => 'absent',
);
const dynamodb = await import('@aws-sdk/client-dynamodb').then(
  () => 'loadable',
  () => 'absent',
);
const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${app.getHttpServer().address().port}/count`;
const first = await fetch(url, { method: 'POST' });
const cookie = first.headers.get('set-cookie').split(';')[0];
const second = await fetch(url, { method: 'POST', headers: { cookie } });
const revoked = await app.get(SessionRevoker).revokeOwner('ann');
await app.close();
// The DynamoDB entry point needs the SDK: without it, importing it fails and names the package.
const dynamodbEntry = await import('nestjs-session-state/dynamodb').then(
  () => 'loaded',
  (error) => (String(error.message).includes('@aws-sdk/client-dynamodb') ? 'needs @aws-sdk/client-dynamodb' : String(error)),
);
console.log(JSON.stringify({ otel, terminus, dynamodb, dynamodbEntry, first: await first.json(), second: await second.json(), revoked }));
