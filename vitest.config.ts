import { defineConfig } from 'vitest/config';

// Two projects: unit tests touch no bus and no other process; integration tests start real
// dbus-daemons, real clients and real ptys, so they get longer timeouts and run one file at a time
// per worker to keep a 2-core machine responsive.
// sd-gpg's client is CommonJS (.cts, for start-up speed): transform .cts/.mts as TypeScript too.
const oxc = { include: /\.(m|c)?tsx?$/ };

export default defineConfig({
  oxc,
  test: {
    // In CI a JSON report is kept too, so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.cache/vitest-report.json' }]] : ['default'],
    projects: [
      {
        oxc,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        oxc,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
