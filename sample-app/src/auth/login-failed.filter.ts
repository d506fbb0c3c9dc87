import { Catch, UnauthorizedException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/** A wrong password on the page's form: back to the page, which says so (not a JSON 401). */
@Catch(UnauthorizedException)
export class LoginFailedFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(_error: UnauthorizedException, host: ArgumentsHost): void {
    this.adapterHost.httpAdapter.redirect(host.switchToHttp().getResponse(), 303, '/?login=failed');
  }
}
