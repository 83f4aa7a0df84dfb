import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'livedesk', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/sdk-suite/**'] } },
      // centrifuge-js's own integration tests against livedesk (test/sdk-suite/README.md).
      'test/sdk-suite/vitest.config.ts',
    ],
  },
})
