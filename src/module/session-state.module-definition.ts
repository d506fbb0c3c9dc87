import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SessionStateModuleOptions } from './session-state.options.js';

/** The method of a `forRootAsync({ useClass })` options class (Nest's `createXxxOptions()` convention). */
export const SESSION_STATE_OPTIONS_FACTORY_METHOD = 'createSessionStateOptions';

export const {
  ConfigurableModuleClass: ConfigurableSessionStateModule,
  MODULE_OPTIONS_TOKEN: SESSION_STATE_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SessionStateModuleOptions>({ moduleName: 'SessionState' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName(SESSION_STATE_OPTIONS_FACTORY_METHOD)
  // Global by default: the store and the accessor are injectable everywhere, like ConfigModule's isGlobal.
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
