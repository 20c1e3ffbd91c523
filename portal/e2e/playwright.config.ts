// Browser tests of the portal against the real stack: httpd with the module, PostgreSQL and the
// suite's SMTP sink. Started by t/api/700_portal_signin.t, which gives the environment:
//   PORTAL_BASE_URL   the Apache virtual host serving the portal and /api
//   DP_SMTP_DIR       where the SMTP sink writes each mail (one .eml file per message)
//   CHROMIUM          Debian's chromium (no browser is ever downloaded)
//   PORTAL_E2E_OUT    a scratch directory for results (traces of failures)
//   PORTAL_E2E_REPORT the JSON report the .t file turns into TAP
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.ts$/,
  outputDir: process.env.PORTAL_E2E_OUT || '../test-results',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['json', { outputFile: process.env.PORTAL_E2E_REPORT || '../test-results/report.json' }]],
  use: {
    baseURL: process.env.PORTAL_BASE_URL,
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM || '/usr/bin/chromium' },
    locale: 'en-US',
    // not the providers' zone (America/New_York): the portal must name the zone it shows
    timezoneId: 'Europe/London',
    trace: 'retain-on-failure',
  },
});
