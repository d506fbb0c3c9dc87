import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { mountSessionAndPassport } from './auth/mount-passport.js';

async function bootstrap() {
  // HTTP_ADAPTER=fastify runs the same app on Fastify; Express is the default.
  const adapter = process.env.HTTP_ADAPTER === 'fastify' ? 'fastify' : 'express';
  const app =
    adapter === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(AppModule.forAdapter(adapter), new FastifyAdapter())
      : await NestFactory.create(AppModule.forAdapter(adapter));
  await mountSessionAndPassport(app);
  // Lets in-flight requests finish and release their session locks on SIGTERM/SIGINT.
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  new Logger('SampleApp').log(
    `Listening on http://127.0.0.1:${port}: open it in a browser (or curl -c jar -b jar -X POST localhost:${port}/counter; GraphQL at /graphql; socket.io on the same port)`,
  );
}
await bootstrap();
