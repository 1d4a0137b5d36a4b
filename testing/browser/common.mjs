// What the browser tests of the demo page share: Debian's chromium,
// headless, through playwright-core (never a downloaded browser), checks
// that fail the run, and the page's login form.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
export const PASSWORD = 'correct horse battery';
export const JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]*/;

export function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

export function step(what) {
  console.log(`[demo] ${what}`);
}

/** A page that fails the test on any script error or CSP violation. */
export async function openPage(context, problems) {
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      problems.push(`CSP violation: ${message.text()}`);
    }
  });
  return page;
}

/** The page's session: its HttpOnly cookies, read from outside the page. */
export async function sessionCookies(context) {
  const cookies = await context.cookies();
  return Object.fromEntries(cookies.map((c) => [c.name, c]));
}

export async function register(page, username) {
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('register').click();
  await page.getByTestId('message').filter({ hasText: `Account ${username} created` }).waitFor();
}

export async function logIn(page, username) {
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('login').click();
  await page.getByTestId('app-view').waitFor();
  const shown = await page.getByTestId('current-user').textContent();
  check(shown === username, `logged in as ${username}, the page says ${shown}`);
}

/** `node SCRIPT.mjs BASE_URL ARTIFACT_DIR`: runs `scenario(browser, problems,
 *  base, artifacts)` in a fresh headless chromium; on failure writes
 *  ARTIFACT_DIR/failure.png (the last open page) and exits 1. */
export function run(script, scenario) {
  const [base, artifacts] = process.argv.slice(2);
  if (!base || !artifacts) {
    console.error(`usage: node ${script} BASE_URL ARTIFACT_DIR`);
    process.exit(2);
  }
  main(base, artifacts, scenario).catch((error) => {
    console.error(`[demo] FAILED: ${error.stack ?? error}`);
    process.exit(1);
  });
}

async function main(base, artifacts, scenario) {
  await mkdir(artifacts, { recursive: true });
  // launch() gives the browser a fresh user-data-dir of its own.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const problems = [];
  try {
    await scenario(browser, problems, base, artifacts);
    check(problems.length === 0, `no script error or CSP violation:\n${problems.join('\n')}`);
  } catch (error) {
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        await page.screenshot({ path: path.join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
      }
    }
    throw error;
  } finally {
    await browser.close();
  }
  step('all checks passed');
}
