import { Controller, Get } from '@nestjs/common';

/** Takes no `@Session()`: the module costs it nothing (no store call, no cookie). */
@Controller()
export class PingController {
  @Get('ping')
  ping(): string {
    return 'pong';
  }
}
