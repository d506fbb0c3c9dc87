/**
 * Runs only the review's tests, without the DynamoDB Local global setup (npx vitest run -c test/review-redis/vitest.review.config.ts).
 * The main config also picks these files up (test/**\/*.spec.ts).
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

const config = mergeConfig(base, defineConfig({ test: { include: ['test/review-redis/**/*.spec.ts'] } }));
config.test!.globalSetup = [];
export default config;
