/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` (or `CHROMIUM_PATH`) driven by
 * playwright-core, a profile of its own per test file. Screenshots go to test-results/ (an
 * artifact, not committed). Where Chromium is not installed the browser tests skip with
 * {@link NO_CHROMIUM} (`apt-get install -y chromium`).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '@dmf-functions/devhost/stack';

/** The Chromium binary. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** True when it is installed. */
export const HAS_CHROMIUM = existsSync(CHROMIUM);
/** Why the browser tests skip when it is not. */
export const NO_CHROMIUM = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
/** Where screenshots go. */
export const ARTIFACTS = join(PROJECT_ROOT, 'test-results');
/** Flags for Chromium on this machine and CI: no sandbox (root), no GPU, no network side traffic. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A running browser: its context, first page, and how to close it (profile removed). */
export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile (downloads accepted, a wide viewport). */
export async function launchChromium(): Promise<Browser> {
  const profileDir = mkdtempSync(join(tmpdir(), 'dmf-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    acceptDownloads: true,
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
