/**
 * Real Chromium for the console tests: the Debian `chromium` package driven by playwright-core
 * (Playwright's own browser download is not used). axe-core is injected into the page under test.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['AUDITSTREAM_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where the tests write screenshots (gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../../test-artifacts/console/', import.meta.url));

/**
 * Names the fix when the browser is not installed, and gives up after 20 s on one that does not
 * start (Playwright's default is 180 s, long enough to look like a hung test run).
 */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    return Promise.reject(new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set AUDITSTREAM_CHROMIUM`));
  }
  return chromium.launch({
    timeout: 20_000,
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; html: string }[];
}

/** Runs axe on the page as it is now; returns the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Injected through the DevTools protocol's evaluate, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Saves a full-page screenshot under SCREENSHOT_DIR. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
