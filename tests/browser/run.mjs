// Jinlin browser tests: start the real `jinlin demo` server (SQLite, and PostgreSQL as well when
// JINLIN_TEST_PG_URL is set), drive its pages in Debian's chromium through playwright-core, and
// save screenshots to tests/browser/screenshots/.
//
//   JINLIN_BIN          the binary (default: <repo>/target/debug/jinlin); this script builds nothing
//   JINLIN_TEST_PG_URL  e.g. postgres://postgres@127.0.0.1:5432 — adds a run on a fresh database
//   CHROMIUM            the browser (default: /usr/bin/chromium)
//
// Usage: cd tests/browser && npm ci && node run.mjs
// The last line of the output is "N passed, M failed"; the exit code is non-zero on any failure.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const BIN = path.resolve(process.env.JINLIN_BIN || path.join(REPO, 'target/debug/jinlin'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PG_URL = process.env.JINLIN_TEST_PG_URL || '';
const SHOTS = path.join(HERE, 'screenshots');
const PASSWORD = 'Jinlin@2026';
const DESK = { width: 1366, height: 860 };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const STEP_TIMEOUT_MS = 90_000;

// ---------------------------------------------------------------- tiny test harness

const results = [];

function log(msg) {
  process.stdout.write(msg + '\n');
}

class AssertionError extends Error {}

function assert(cond, message) {
  if (!cond) throw new AssertionError(message);
}

async function step(name, fn) {
  const started = Date.now();
  let timer;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`step timed out after ${STEP_TIMEOUT_MS / 1000}s`)), STEP_TIMEOUT_MS);
      }),
    ]);
    results.push({ name, ok: true });
    log(`  ok    ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false, err });
    log(`  FAIL  ${name} (${Date.now() - started} ms)`);
    log('        ' + String((err && err.stack) || err).split('\n').slice(0, 8).join('\n        '));
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- processes

const cleanups = [];

async function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      log(`cleanup failed: ${err}`);
    }
  }
}

// Ctrl-C or a CI timeout: still stop the server and drop the database.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\nreceived ${sig}, cleaning up`);
    runCleanups().finally(() => process.exit(130));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts `jinlin demo` and resolves once /healthz answers; registers its own cleanup. */
async function startServer(label, extraArgs) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `jinlin-browser-${label}-`));
  const logFile = path.join(dataDir, 'server.log');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const out = fs.openSync(logFile, 'a');
  const args = ['demo', '--data', path.join(dataDir, 'data'), '--listen', `127.0.0.1:${port}`, ...extraArgs];
  log(`  starting ${path.relative(process.cwd(), BIN) || BIN} ${args.join(' ')}`);
  const child = spawn(BIN, args, {
    stdio: ['ignore', out, out],
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  fs.closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  // Last resort if this script dies without running its cleanups: never leave a server behind.
  process.on('exit', () => {
    if (exited === null) child.kill('SIGKILL');
  });
  cleanups.push(async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const timeout = sleep(5000).then(() => 'timeout');
      if ((await Promise.race([once(child, 'exit'), timeout])) === 'timeout') {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    if (results.some((r) => !r.ok)) {
      log(`--- last lines of the ${label} server log (${logFile}) ---\n${tail(logFile)}\n---`);
    } else {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) {
      throw new Error(`jinlin exited early (${JSON.stringify(exited)}):\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`/healthz did not answer within 60 s:\n${tail(logFile)}`);
    await sleep(200);
  }
  log(`  server ready at ${base}`);
  return { base, port, logFile };
}

/** psql against the maintenance database of JINLIN_TEST_PG_URL. */
function psql(sql) {
  const admin = new URL(PG_URL);
  admin.pathname = '/postgres';
  const r = spawnSync('psql', ['-v', 'ON_ERROR_STOP=1', '-qAt', '-d', admin.toString(), '-c', sql], {
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

function createPgDatabase() {
  const name = `jinlin_browser_${process.pid}_${Date.now().toString(36)}`;
  psql(`CREATE DATABASE ${name}`);
  cleanups.push(async () => {
    psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    log(`  dropped PostgreSQL database ${name}`);
  });
  const url = new URL(PG_URL);
  url.pathname = '/' + name;
  log(`  created PostgreSQL database ${name}`);
  return url.toString();
}

// ---------------------------------------------------------------- browser helpers

let browser;

/** A fresh context (own cookies) that records every request leaving for another host. */
async function newContext(base, options = {}) {
  const ctx = await browser.newContext({ viewport: DESK, locale: 'zh-CN', ...options });
  ctx.setDefaultTimeout(15_000);
  const host = new URL(base).host;
  ctx.foreign = [];
  ctx.errors = [];
  ctx.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    try {
      if (new URL(url).host !== host) ctx.foreign.push(url);
    } catch {
      ctx.foreign.push(url);
    }
  });
  ctx.on('page', (page) => watchPage(ctx, page));
  return ctx;
}

function watchPage(ctx, page) {
  page.on('pageerror', (err) => ctx.errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') ctx.errors.push(`console: ${msg.text()}`);
  });
}

function assertClean(ctx) {
  assert(ctx.foreign.length === 0, `requests left the server: ${ctx.foreign.join(', ')}`);
  assert(ctx.errors.length === 0, `browser errors: ${ctx.errors.join(' | ')}`);
}

async function shot(page, prefix, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // Let web fonts, htmx swaps and Leaflet settle.
  await page.evaluate(() => document.fonts && document.fonts.ready);
  await page.waitForTimeout(150);
  const file = path.join(SHOTS, `${prefix}${name}.png`);
  // A plain full-page capture paints fixed and sticky bars (top bar, sidebar, phone tab bar)
  // where the first screen ends; growing the viewport to the page's height first shows the page
  // the way a person scrolling it sees each part.
  const vp = page.viewportSize();
  for (let i = 0; i < 2; i++) {
    const h = await page.evaluate(() => document.documentElement.scrollHeight);
    const cur = page.viewportSize();
    if (h <= cur.height) break;
    await page.setViewportSize({ width: vp.width, height: Math.min(h, 8000) });
    await page.waitForTimeout(150);
  }
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  await page.setViewportSize(vp);
}

async function login(page, base, username, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type="submit"]')]);
}

async function assertNoHorizontalScroll(page) {
  const { sw, cw } = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth,
    cw: document.documentElement.clientWidth,
  }));
  assert(sw <= cw + 1, `page scrolls sideways: scrollWidth ${sw} > ${cw}`);
}

/** A point inside some drawn grid polygon (the path element itself is on top there). */
async function pointInsideAGrid(page) {
  const pt = await page.evaluate(() => {
    const paths = Array.from(document.querySelectorAll('#map path.leaflet-interactive'));
    for (const p of paths) {
      const r = p.getBoundingClientRect();
      if (r.width < 8 || r.height < 8) continue;
      for (const [fx, fy] of [[0.5, 0.5], [0.4, 0.4], [0.6, 0.6], [0.35, 0.65], [0.65, 0.35]]) {
        const x = r.left + r.width * fx;
        const y = r.top + r.height * fy;
        if (document.elementFromPoint(x, y) === p) return { x, y };
      }
    }
    return null;
  });
  assert(pt, 'found no clickable point inside a grid polygon');
  return pt;
}

// ---------------------------------------------------------------- the scenario

async function scenario(label, base, prefix) {
  const state = {};

  await step(`[${label}] (a) login: wrong password shows the error, then the right one signs in`, async () => {
    const ctx = await newContext(base);
    const page = await ctx.newPage();
    await page.goto(`${base}/login`);
    assert((await page.title()).includes('近邻'), `login page title: ${await page.title()}`);
    assert((await page.locator('form[action="/login"] input[type="hidden"][name="_csrf"]').count()) === 1, 'login form has no _csrf field');
    await shot(page, prefix, 'login');
    await page.fill('#username', 'community');
    await page.fill('#password', 'not-the-password');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type="submit"]')]);
    const err = page.locator('.alert-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.innerText();
    assert(text.includes('用户名或密码错误'), `error message is "${text}"`);
    assert(await page.getByText('用户名或密码错误').isVisible(), 'the error text is not visible');
    assert((await page.inputValue('#username')) === 'community', 'username was not kept after the failed login');
    await shot(page, prefix, 'login-error');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type="submit"]')]);
    assert(new URL(page.url()).pathname === '/', `after login the page is ${page.url()}`);
    assert(await page.locator('.topbar .user-name').isVisible(), 'no user name in the top bar');
    state.ctx = ctx;
    state.page = page;
    // Console errors for the deliberate 4xx of the failed login are expected; start clean here.
    ctx.errors.length = 0;
  });

  await step(`[${label}] (b) dashboard shows the jurisdiction's counts`, async () => {
    assert(state.page, 'not logged in');
    const page = state.page;
    await page.goto(`${base}/`);
    assert((await page.locator('body.desk').count()) === 1, 'community staff should get the desk layout');
    const stats = await page.locator('.stat').evaluateAll((els) =>
      els.map((e) => ({
        value: (e.querySelector('.stat-value') || {}).textContent || '',
        label: (e.querySelector('.stat-label') || {}).textContent || '',
      })),
    );
    assert(stats.length >= 3, `expected several count cards, got ${JSON.stringify(stats)}`);
    for (const s of stats) assert(/^\s*[\d,]+/.test(s.value), `count "${s.label}" is not a number: "${s.value}"`);
    assert(stats.some((s) => parseInt(s.value.replace(/,/g, ''), 10) > 0), `all counts are zero: ${JSON.stringify(stats)}`);
    assert(stats.some((s) => s.label.includes('网格')), `no grid count among ${JSON.stringify(stats)}`);
    log(`        counts: ${stats.map((s) => `${s.label.trim()}=${s.value.trim()}`).join(', ')}`);
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'dashboard');
    assertClean(state.ctx);
  });

  await step(`[${label}] (c) region tree expands with htmx; search finds 东霞`, async () => {
    assert(state.page, 'not logged in');
    const page = state.page;
    await page.goto(`${base}/regions`);
    // Read 东霞社区's code from the tree instead of assuming it.
    const link = page.locator('.tree .tree-node > a', { hasText: /^东霞社区$/ }).first();
    await link.waitFor();
    const href = await link.getAttribute('href');
    const code = (href || '').split('/').pop();
    const shownCode = (await link.locator('xpath=following-sibling::span[contains(@class,"mono")][1]').innerText()).trim();
    assert(/^\d{12}$/.test(code) && code === shownCode, `东霞社区 code "${code}" vs shown "${shownCode}"`);
    if (code !== '350503001001') log(`        note: 东霞社区 is ${code}, not 350503001001`);
    state.communityCode = code;

    // Pin the toggle by its URL: a locator on aria-expanded="false" would move on after the click.
    const first = page.locator('.tree-toggle[aria-expanded="false"][hx-get]').first();
    await first.waitFor();
    const hxGet = await first.getAttribute('hx-get');
    const toggle = page.locator(`.tree-toggle[hx-get="${hxGet}"]`);
    const node = toggle.locator('xpath=..');
    const name = (await node.locator(':scope > a').first().innerText()).trim();
    const children = node.locator(':scope > .tree-children > li.tree-node');
    assert((await children.count()) === 0, 'children are there before expanding');
    const [resp] = await Promise.all([
      page.waitForResponse((r) => /\/regions\/\d+\/children$/.test(new URL(r.url()).pathname)),
      toggle.click(),
    ]);
    assert(resp.ok(), `children request failed: ${resp.status()}`);
    await children.first().waitFor();
    const n = await children.count();
    assert(n > 0, 'no children appeared');
    assert((await toggle.getAttribute('aria-expanded')) === 'true', 'toggle did not report expanded');
    log(`        expanded ${name}: ${n} children`);
    // Collapsing hides them without another request; expanding shows them again.
    await toggle.click();
    await node.locator(':scope > .tree-children').waitFor({ state: 'hidden' });
    await toggle.click();
    await children.first().waitFor({ state: 'visible' });
    await shot(page, prefix, 'region-tree');

    await page.fill('.searchbox input[name="q"]', '东霞');
    await Promise.all([page.waitForNavigation(), page.press('.searchbox input[name="q"]', 'Enter')]);
    assert(new URL(page.url()).pathname === '/regions/search', `search went to ${page.url()}`);
    const hit = page.locator('table.table tbody tr a', { hasText: '东霞社区' }).first();
    await hit.waitFor();
    assert((await hit.getAttribute('href')) === `/regions/${code}`, 'search hit links elsewhere');
    await shot(page, prefix, 'region-search');

    await Promise.all([page.waitForNavigation(), hit.click()]);
    await page.locator('h1', { hasText: '东霞社区' }).waitFor();
    assert((await page.locator('.person-chip').count()) > 0, 'no staff posts on the community page');
    assert((await page.locator('table.table tbody tr').count()) > 0, 'no sub-regions listed');
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'region-detail');
    assertClean(state.ctx);
  });

  await step(`[${label}] (d) map draws grid polygons, a click locates the grid, nothing leaves the server`, async () => {
    assert(state.page && state.communityCode, 'needs (a) and (c)');
    const ctx = state.ctx;
    ctx.foreign.length = 0;
    const page = state.page;
    await page.goto(`${base}/regions/${state.communityCode}/map`);
    await page.locator('#map path.leaflet-interactive').first().waitFor();
    const polygons = await page.locator('#map .leaflet-interactive').count();
    assert(polygons > 0, 'no grid polygons drawn');
    log(`        ${polygons} grid polygons`);
    const box = await page.locator('#map').boundingBox();
    assert(box && box.height >= 400 && box.width >= 400, `map is too small: ${JSON.stringify(box)}`);
    const pt = await pointInsideAGrid(page);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/grids/locate'),
      page.mouse.click(pt.x, pt.y),
    ]);
    assert(resp.ok(), `locate answered ${resp.status()}`);
    const result = page.locator('.locate-result');
    await result.locator('.locate-name').waitFor();
    const text = await result.innerText();
    assert(/网格/.test(await result.locator('.locate-name').innerText()), `locate result: ${text}`);
    log(`        located: ${text.replace(/\s+/g, ' ').slice(0, 100)}`);
    await shot(page, prefix, 'map');
    assertClean(ctx);
  });

  await step(`[${label}] (e) grid worker on a phone: dashboard and map`, async () => {
    const ctx = await newContext(base, PHONE);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'grid');
      assert(new URL(page.url()).pathname === '/', `after login the page is ${page.url()}`);
      assert((await page.locator('body.phone').count()) === 1, 'grid worker should get the phone layout');
      assert(await page.locator('.tabbar').isVisible(), 'no tab bar on the phone');
      assert((await page.locator('.stat').count()) > 0, 'no counts on the phone dashboard');
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-dashboard');
      await Promise.all([page.waitForNavigation(), page.locator('.tabbar a[href$="/map"]').tap()]);
      await page.locator('#map path.leaflet-interactive').first().waitFor();
      await assertNoHorizontalScroll(page);
      const pt = await pointInsideAGrid(page);
      const [resp] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/grids/locate'),
        page.touchscreen.tap(pt.x, pt.y),
      ]);
      assert(resp.ok(), `locate answered ${resp.status()}`);
      await page.locator('.locate-result .locate-name').waitFor();
      assert(/网格/.test(await page.locator('.locate-result .locate-name').innerText()), 'no grid in the locate result');
      await shot(page, prefix, 'phone-map');
      await page.goto(`${base}/regions`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-regions');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (f) admin: staff list, audit log shows the logins, Swagger UI renders`, async () => {
    const ctx = await newContext(base);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'admin');
      assert(new URL(page.url()).pathname === '/', `after login the page is ${page.url()}`);

      await page.goto(`${base}/staff`);
      const rows = await page.locator('table.table tbody tr').count();
      assert(rows > 5, `staff list has ${rows} rows`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'staff');

      await page.goto(`${base}/staff/new`);
      await page.locator('form[action="/staff"] input[name="username"]').waitFor();
      await shot(page, prefix, 'staff-new');

      // The whole district: the tree starts at the district, the map draws every grid.
      await page.goto(`${base}/regions`);
      const root = page.locator('.tree > .tree-node > .badge-district');
      assert((await root.count()) === 1, 'the admin tree does not start at the district');
      await shot(page, prefix, 'district-tree');
      const districtMap = await page.locator('.tree > .tree-node > a.btn[href$="/map"]').getAttribute('href');
      await page.goto(`${base}${districtMap}`);
      await page.locator('#map path.leaflet-interactive').first().waitFor();
      const all = await page.locator('#map path.leaflet-interactive').count();
      assert(all >= 100, `district map draws ${all} grids`);
      await shot(page, prefix, 'district-map');

      await page.goto(`${base}/admin/grids/import`);
      await page.locator('form[action="/admin/grids/import"] input[type="file"]').waitFor();
      await shot(page, prefix, 'import');

      await page.goto(`${base}/admin/audit`);
      const audit = await page.locator('table.table tbody tr').evaluateAll((trs) =>
        trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim())),
      );
      // columns: time, actor, action, target, outcome, detail
      const logins = audit.filter((r) => r[2] === 'login');
      const has = (user, outcome) => logins.some((r) => (r[1].includes(user) || r[3].includes(user)) && r[4] === outcome);
      assert(has('community', 'failed'), `no failed login of community in ${JSON.stringify(logins)}`);
      assert(has('community', 'ok'), 'no successful login of community');
      assert(has('grid', 'ok'), 'no successful login of grid');
      assert(has('admin', 'ok'), 'no successful login of admin');
      await shot(page, prefix, 'audit');

      await page.goto(`${base}/api/docs`);
      const title = page.locator('#swagger-ui .info .title');
      await title.waitFor();
      const t = await title.innerText();
      assert(t.includes('Jinlin'), `Swagger UI title is "${t}"`);
      await page.locator('#swagger-ui .opblock').first().waitFor();
      await shot(page, prefix, 'api-docs');
      assertClean(ctx);
      state.admin = { ctx, page };
    } catch (err) {
      await ctx.close();
      throw err;
    }
  });

  await step(`[${label}] (g) the language link switches to English`, async () => {
    assert(state.admin, 'needs (f)');
    const { ctx, page } = state.admin;
    try {
      await page.goto(`${base}/`);
      await Promise.all([page.waitForNavigation(), page.click('a.lang-switch')]);
      assert(new URL(page.url()).pathname === '/', `language switch went to ${page.url()}`);
      assert((await page.getAttribute('html', 'lang')).startsWith('en'), 'html lang is not English');
      const nav = await page.locator('nav.sidebar').innerText();
      assert(nav.includes('Dashboard') && nav.includes('Regions & grids'), `English nav missing: ${nav}`);
      await shot(page, prefix, 'english-dashboard');
      await page.goto(`${base}/admin/audit`);
      await shot(page, prefix, 'english-audit');
      // And back, so the language choice really is a toggle.
      await Promise.all([page.waitForNavigation(), page.click('a.lang-switch')]);
      assert((await page.locator('nav.sidebar').innerText()).includes('工作台'), 'did not switch back to Chinese');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  if (state.ctx) await state.ctx.close();
}

// ---------------------------------------------------------------- main

async function main() {
  log(`Jinlin browser tests`);
  log(`  binary:   ${BIN}`);
  log(`  chromium: ${CHROMIUM}`);
  if (!fs.existsSync(BIN)) throw new Error(`no binary at ${BIN}; run \`cargo build\` first or set JINLIN_BIN`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}; apt-get install chromium (or set CHROMIUM)`);
  fs.rmSync(SHOTS, { recursive: true, force: true });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  cleanups.push(() => browser.close());
  log(`  chromium ${browser.version()}`);

  const runs = [{ label: 'sqlite', prefix: '', args: () => [] }];
  if (PG_URL) {
    runs.push({ label: 'postgres', prefix: 'postgres-', args: () => ['--database-url', createPgDatabase()] });
  } else {
    log('  JINLIN_TEST_PG_URL is not set: PostgreSQL run skipped');
  }

  for (const run of runs) {
    log(`\n== ${run.label} ==`);
    const mark = cleanups.length;
    let server;
    await step(`[${run.label}] server starts and answers /healthz`, async () => {
      server = await startServer(run.label, run.args());
    });
    if (server) await scenario(run.label, server.base, run.prefix);
    // Stop this run's server (and drop its database) before the next run.
    while (cleanups.length > mark) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        results.push({ name: `[${run.label}] cleanup`, ok: false, err });
        log(`  FAIL  [${run.label}] cleanup: ${err}`);
      }
    }
  }
}

let fatal = null;
try {
  await main();
} catch (err) {
  fatal = err;
  log(`\nfatal: ${(err && err.stack) || err}`);
} finally {
  await runCleanups();
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + (fatal ? 1 : 0);
if (failed) {
  log('\nfailures:');
  for (const r of results.filter((r) => !r.ok)) log(`  - ${r.name}: ${String((r.err && r.err.message) || r.err).split('\n')[0]}`);
  if (fatal) log(`  - setup: ${String(fatal.message || fatal).split('\n')[0]}`);
}
log(`\nscreenshots: ${path.relative(process.cwd(), SHOTS) || SHOTS}`);
log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
