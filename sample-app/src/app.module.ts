import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { SessionStateModule } from 'nestjs-session-state';
import { AccountController } from './account/account.controller.js';
import { CartController } from './cart/cart.controller.js';
import { CounterController } from './counter/counter.controller.js';
import { NotesController } from './notes/notes.controller.js';
import { PingController } from './ping.controller.js';
import { createSessionStore } from './session-store.factory.js';

@Module({
  imports: [
    ConfigModule.forRoot(),
    SessionStateModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        store: createSessionStore(config),
        timeout: 20,
        // Sign the id cookie when a secret is configured (comma-separated: first signs, all verify).
        secret: config.get<string>('SESSION_SECRET')?.split(','),
      }),
    }),
  ],
  controllers: [PingController, CounterController, CartController, AccountController, NotesController],
})
export class AppModule {}
