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
import zlib from 'node:zlib';
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
async function pointInsideAGrid(page, mapSelector = '#map') {
  const pt = await page.evaluate((sel) => {
    const paths = Array.from(document.querySelectorAll(`${sel} path.leaflet-interactive`));
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
  }, mapSelector);
  assert(pt, `found no clickable point inside a grid polygon of ${mapSelector}`);
  return pt;
}

// ---------------------------------------------------------------- case helpers

let tmpDir;

/** A real PNG file (a w×h block of one colour) in a temp folder; returns its path. */
function pngFile(name, [r, g, b], w = 64, h = 48) {
  if (!tmpDir) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jinlin-browser-files-'));
    process.on('exit', () => fs.rmSync(tmpDir, { recursive: true, force: true }));
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  const file = path.join(tmpDir, name);
  fs.writeFileSync(file, png);
  return file;
}

/** The case number of a /cases/{id} page. */
function caseIdOf(page) {
  const m = new URL(page.url()).pathname.match(/^\/cases\/(\d+)$/);
  assert(m, `not on a case page: ${page.url()}`);
  return Number(m[1]);
}

async function actionsOn(page) {
  return (await page.locator('.actions-card [data-action]').evaluateAll((els) => els.map((e) => e.dataset.action))).join(', ');
}

async function alertText(page) {
  const a = page.locator('.alert-error');
  return (await a.count()) ? (await a.first().innerText()).trim() : '';
}

/**
 * Runs an action from the case page the way a person does: press its button, or open its form
 * (a <details>), let `fill` fill it in, and send it. Resolves on the page the server redirects to.
 */
async function act(page, action, fill) {
  const button = page.locator(`.actions-card form.action-form button[data-action="${action}"]`);
  const summary = page.locator(`.actions-card details.action-form > summary[data-action="${action}"]`);
  if ((await button.count()) === 1) {
    await button.scrollIntoViewIfNeeded();
    await Promise.all([page.waitForNavigation(), button.click()]);
  } else {
    assert((await summary.count()) === 1, `no "${action}" on ${page.url()}; there are: ${await actionsOn(page)}`);
    const details = summary.locator('xpath=..');
    if (!(await details.evaluate((d) => d.open))) await summary.click();
    const form = details.locator('form');
    await form.waitFor({ state: 'visible' });
    if (fill) await fill(form);
    await Promise.all([page.waitForNavigation(), form.locator('button[type="submit"]').click()]);
  }
  const done = new URL(page.url()).searchParams.get('done');
  assert(done === action, `after "${action}" the page is ${page.url()} ${await alertText(page)}`);
  assert(await page.locator('.alert-ok').isVisible(), `no confirmation after "${action}"`);
}

/**
 * On a people import job page (/people/import/jobs/…): waits until the job has reached 完成 (the
 * page's script reloads it then), and checks the bar and the job's JSON say so too.
 */
async function importJobDone(page) {
  assert(/\/people\/import\/jobs\/[\w-]+$/.test(new URL(page.url()).pathname), `not on a job page: ${page.url()}`);
  const card = page.locator('#import-job');
  await page.locator('#import-job.job-done, #import-job.job-failed').waitFor({ timeout: 60_000 });
  const stage = (await card.locator('.job-stage').innerText()).trim();
  assert(stage === '完成', `the job ended as "${stage}": ${await alertText(page)}`);
  assert((await card.locator('.job-percent').innerText()).trim() === '100%', 'the bar is not at 100%');
  assert((await card.locator('.job-step.is-done').count()) === (await card.locator('.job-step').count()), 'a step is not ticked off');
  const job = await page.evaluate(async () => (await fetch(location.pathname + '.json')).json());
  assert(job.finished && job.percent === 100 && job.stage_name === '完成' && job.failed === null, `the job's JSON: ${JSON.stringify(job)}`);
  return job;
}

async function stageOf(page) {
  return (await page.locator('.case-header .stage').innerText()).trim();
}

async function timelineActions(page) {
  return (await page.locator('.timeline .tl-action').allInnerTexts()).map((t) => t.trim());
}

/** The facts list of a case page as { label: value }. */
async function factsOf(page) {
  return page.locator('.case-main dl.kv').evaluate((dl) => {
    const out = {};
    for (const dt of dl.querySelectorAll('dt')) out[dt.textContent.trim()] = (dt.nextElementSibling || {}).textContent?.trim() || '';
    return out;
  });
}

/** Every <img> in `selector` has loaded real pixels. */
async function assertImagesLoaded(page, selector) {
  const imgs = page.locator(selector);
  const n = await imgs.count();
  assert(n > 0, `no images in ${selector}`);
  for (let i = 0; i < n; i++) {
    const img = imgs.nth(i);
    await img.scrollIntoViewIfNeeded();
    await page.waitForFunction((el) => el.complete, await img.elementHandle());
    const w = await img.evaluate((el) => el.naturalWidth);
    assert(w > 0, `image ${i + 1} of ${selector} did not load`);
  }
}

/** A datetime-local value in Beijing time, `hours` from now. */
function beijingLocal(hours) {
  return new Date(Date.now() + hours * 3600_000 + 8 * 3600_000).toISOString().slice(0, 16);
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

  // ------------------------------------------------------------ the case loop, role by role

  await step(`[${label}] (h) resident on a phone reports a problem: no location is refused, then pin, building and photo`, async () => {
    const ctx = await newContext(base, PHONE);
    const page = await ctx.newPage();
    state.resident = { ctx, page };
    await login(page, base, 'resident');
    assert((await page.locator('body.phone').count()) === 1, 'a resident should get the phone layout');
    await Promise.all([page.waitForNavigation(), page.locator('.tabbar a', { hasText: '我要反映' }).tap()]);
    assert(new URL(page.url()).pathname === '/cases/new', `我要反映 went to ${page.url()}`);
    await page.locator('h1', { hasText: '我要反映' }).waitFor();
    await page.locator('#pick-map path.leaflet-interactive').first().waitFor();
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'phone-report-form');

    // Category and text but no location: refused, the error names 位置, nothing typed is lost.
    // Not a help request: those skip the desk and go straight to the grid worker.
    const [value] = await page.selectOption('#category', { label: '消防通道堵塞' });
    const category = { value, name: '消防通道堵塞' };
    // The category's extra questions appear with it.
    const questions = page.locator(`fieldset.questions[data-category="${value}"]`);
    await questions.waitFor();
    assert((await questions.innerText()).includes('通道被什么堵住了'), 'the question of 消防通道堵塞 is not shown');
    assert((await page.locator('fieldset.questions:not([hidden])').count()) === 1, 'other categories\' questions are shown too');
    await questions.locator('label.check', { hasText: '杂物' }).tap();
    const text = `3号楼2单元楼道堆满纸箱，堵住了消防通道（${label}）`;
    await page.fill('#description', text);
    const submit = page.locator('.case-form button[type="submit"]');
    const errorsBefore = ctx.errors.length;
    await Promise.all([page.waitForNavigation(), submit.tap()]);
    const error = page.locator('.case-form .alert-error');
    await error.waitFor();
    const message = await error.innerText();
    assert(message.includes('位置'), `the error does not name 位置: "${message}"`);
    assert((await page.locator('.field.location.invalid').count()) === 1, 'the location field is not marked invalid');
    assert((await page.inputValue('#description')) === text, 'the description was lost');
    assert((await page.inputValue('#category')) === category.value, 'the category was lost');
    assert(await questions.locator('input[value="sundries"]').isChecked(), 'the answer was lost');
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'phone-report-error');
    // The refusal is a 4xx answer, which chromium logs; nothing else may have been logged.
    ctx.errors.splice(errorsBefore).filter((e) => !/status of 4\d\d/.test(e)).forEach((e) => ctx.errors.push(e));

    // Now a pin inside the grid, the building, an address and a photo.
    await page.locator('#pick-map path.leaflet-interactive').first().waitFor();
    await page.locator('#pick-map').scrollIntoViewIfNeeded();
    const pt = await pointInsideAGrid(page, '#pick-map');
    await page.touchscreen.tap(pt.x, pt.y);
    await page.waitForFunction(() => document.getElementById('lat').value && document.getElementById('lng').value);
    assert((await page.locator('.pin-readout').innerText()).includes('已选位置'), 'the pin is not read out');
    assert((await page.locator('#pick-map .leaflet-marker-icon').count()) === 1, 'no marker where the map was tapped');
    const building = page.locator('#region_code option').nth(2);
    const buildingName = (await building.innerText()).trim();
    await page.selectOption('#region_code', await building.getAttribute('value'));
    await page.fill('#address', '东霞新村3号楼2单元');
    await page.setInputFiles('#photos', pngFile('stairwell.png', [205, 92, 60]));
    await page.fill('#reporter_name', '洪女士');
    await shot(page, prefix, 'phone-report-filled');
    await Promise.all([page.waitForNavigation(), submit.tap()]);
    const id = caseIdOf(page);
    assert(new URL(page.url()).searchParams.get('done') === 'report', `after the report: ${page.url()} ${await alertText(page)}`);
    assert((await page.locator('.alert-ok').innerText()).includes('已收到'), 'no confirmation after the report');
    assert((await page.locator('.case-description').innerText()).includes(text), 'the case page does not show the description');
    assert((await page.locator('.case-header h1').innerText()).includes(category.name), 'the case page does not show the category');
    assert((await stageOf(page)) === '上报', `stage is ${await stageOf(page)}`);
    const facts = await page.locator('.kv').first().innerText();
    assert(facts.includes('通道被什么堵住了') && facts.includes('杂物'), `the answer is not on the case page: ${facts}`);
    await assertImagesLoaded(page, '.case-main .photo-grid img');
    await assertNoHorizontalScroll(page);
    log(`        case #${id}: ${category.name}, pin ${await page.locator('#case-map').getAttribute('data-lat')}, building ${buildingName}`);
    await shot(page, prefix, 'phone-case-reported');

    await Promise.all([page.waitForNavigation(), page.locator('.tabbar a[href="/cases"]').tap()]);
    await page.locator('h1', { hasText: '我的诉求' }).waitFor();
    const mine = page.locator(`.case-item a[href="/cases/${id}"]`);
    assert((await mine.count()) === 1, '我的诉求 does not list the new case');
    assert((await mine.innerText()).includes('纸箱'), `the list item does not summarise the text: ${await mine.innerText()}`);
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'phone-my-cases');
    assertClean(ctx);
    state.caseA = { id, text, category };
  });

  await step(`[${label}] (i) community desk: 我的任务 shows it with a colour warning; 受理, then 派单 to the grid worker`, async () => {
    assert(state.caseA, 'needs (h)');
    const { id } = state.caseA;
    const ctx = await newContext(base);
    const page = await ctx.newPage();
    state.community = { ctx, page };
    await login(page, base, 'community');
    await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/cases"]').click()]);
    await page.locator('.tabs a.active', { hasText: '我的任务' }).waitFor();
    // The demo county keeps the desk busy: find the new case the way a desk worker would.
    await page.fill('.case-filters input[name="q"]', state.caseA.text.slice(0, 20));
    await Promise.all([page.waitForNavigation(), page.press('.case-filters input[name="q"]', 'Enter')]);
    const item = page.locator('.case-item', { has: page.locator(`a[href="/cases/${id}"]`) });
    await item.waitFor();
    const cls = await item.getAttribute('class');
    const warn = (cls.match(/warn-(blue|yellow|orange|red)/) || [])[1];
    assert(warn, `no colour warning on the list item: "${cls}"`);
    const colours = await item.evaluate((li) => ({
      border: getComputedStyle(li).borderLeftColor,
      dot: getComputedStyle(li.querySelector('.due .dot')).backgroundColor,
    }));
    // The stripe and the dot carry the same warning colour, and it is a colour, not grey.
    const rgb = (c) => (c.match(/\d+/g) || []).slice(0, 3).map(Number);
    const [r, g, b] = rgb(colours.dot);
    assert(colours.dot === colours.border && Math.max(r, g, b) - Math.min(r, g, b) > 60, `the warning has no colour: ${JSON.stringify(colours)}`);
    log(`        warning ${warn}: ${await item.locator('.due').innerText()}`);
    await shot(page, prefix, 'cases-tasks');

    await Promise.all([page.waitForNavigation(), item.locator('a').click()]);
    assert(caseIdOf(page) === id, `opened ${page.url()}`);
    await shot(page, prefix, 'case-community');
    await act(page, 'accept');
    assert((await stageOf(page)) === '已受理', `stage after 受理: ${await stageOf(page)}`);
    await shot(page, prefix, 'case-accepted');
    let worker = '';
    await act(page, 'dispatch', async (form) => {
      const opt = form.locator('#to option', { hasText: '本网格网格员' });
      assert((await opt.count()) === 1, `no 本网格网格员 among ${await form.locator('#to option').allInnerTexts()}`);
      worker = (await opt.innerText()).trim();
      await form.locator('#to').selectOption(await opt.getAttribute('value'));
      await form.getByLabel('备注（选填）').fill('请尽快到现场清理');
    });
    assert((await stageOf(page)) === '已派单', `stage after 派单: ${await stageOf(page)}`);
    const tl = await timelineActions(page);
    for (const a of ['上报', '受理', '派单']) assert(tl.includes(a), `timeline lacks ${a}: ${tl.join(' / ')}`);
    assert((await page.locator('.timeline').innerText()).includes('请尽快到现场清理'), 'the dispatch note is not in the timeline');
    log(`        dispatched to ${worker}`);
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'case-dispatched');
    assertClean(ctx);
  });

  await step(`[${label}] (j) grid worker on a phone: inbox shows the dispatch; 签收, 办结反馈 with photo, 核查通过`, async () => {
    assert(state.caseA, 'needs (h)');
    const { id } = state.caseA;
    const ctx = await newContext(base, PHONE);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'grid');
      await Promise.all([page.waitForNavigation(), page.locator('.tabbar a[href="/inbox"]').tap()]);
      const note = page.locator('.inbox-item', { has: page.locator(`a[href="/cases/${id}"]`) }).first();
      await note.waitFor();
      assert((await note.getAttribute('class')).includes('unread'), 'the dispatch notice is not marked unread');
      log(`        inbox: ${(await note.locator('.inbox-title').innerText()).trim()}`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-inbox');
      await Promise.all([page.waitForNavigation(), note.locator(`a[href="/cases/${id}"]`).tap()]);
      assert(caseIdOf(page) === id, `opened ${page.url()}`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-case-dispatched');

      await act(page, 'take');
      assert((await stageOf(page)) === '处置中', `stage after 签收: ${await stageOf(page)}`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-case-taken');

      await act(page, 'resolve', async (form) => {
        await form.getByLabel('办理结果').fill('已联系物业清走纸箱，消防通道畅通');
        await form.locator('input[type="file"]').setInputFiles(pngFile('cleared.png', [70, 150, 90]));
      });
      assert((await stageOf(page)) === '已办结待核查', `stage after 办结反馈: ${await stageOf(page)}`);
      assert((await page.locator('.timeline').innerText()).includes('消防通道畅通'), 'the result is not in the timeline');
      await assertImagesLoaded(page, '.timeline .photo-grid img');
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-case-resolved');

      await act(page, 'verify_pass');
      assert((await stageOf(page)) === '已核查', `stage after 核查通过: ${await stageOf(page)}`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-case-verified');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (k) resident rates 满意: the case is 已销号 and the timeline shows every step`, async () => {
    assert(state.resident && state.caseA, 'needs (h)');
    const { ctx, page } = state.resident;
    const { id } = state.caseA;
    await page.goto(`${base}/cases/${id}`);
    assert((await stageOf(page)) === '已核查', `stage before rating: ${await stageOf(page)}`);
    await shot(page, prefix, 'phone-case-to-rate');
    await act(page, 'rate', async (form) => {
      await form.getByLabel('满意', { exact: true }).check();
    });
    assert((await stageOf(page)) === '已销号', `stage after rating: ${await stageOf(page)}`);
    const facts = await factsOf(page);
    assert((facts['群众评价'] || '').includes('满意'), `rating not among the facts: ${JSON.stringify(facts)}`);
    const tl = await timelineActions(page);
    for (const a of ['上报', '受理', '派单', '签收', '办结反馈', '核查通过', '评价']) {
      assert(tl.includes(a), `the resident's timeline lacks ${a}: ${tl.join(' / ')}`);
    }
    assert((await page.locator('.actions-card').innerText()).includes('本案件已结束'), 'the finished case still offers actions');
    await assertNoHorizontalScroll(page);
    await shot(page, prefix, 'phone-case-closed');
    assertClean(ctx);
    await ctx.close();
    delete state.resident;
  });

  await step(`[${label}] (l) community enters a hotline case and blows the whistle; dept reports in`, async () => {
    assert(state.community, 'needs (i)');
    const { ctx, page } = state.community;
    await page.goto(`${base}/cases`);
    await Promise.all([page.waitForNavigation(), page.locator('.page-header a.btn', { hasText: '热线代录' }).click()]);
    await page.locator('h1', { hasText: '热线代录' }).waitFor();
    await page.selectOption('#category', { label: '路灯不亮' });
    const text = `来电反映：东霞新村路灯连续三晚不亮（${label}）`;
    await page.fill('#description', text);
    const place = page.locator('#region_code option', { hasText: '东霞社区第1网格' }).first();
    await page.selectOption('#region_code', await place.getAttribute('value'));
    await page.fill('#reporter_name', '陈先生');
    await page.fill('#reporter_phone', '13912345678');
    await shot(page, prefix, 'hotline-form');
    await Promise.all([page.waitForNavigation(), page.locator('.case-form button[type="submit"]').click()]);
    const id = caseIdOf(page);
    assert((await page.locator('.case-description').innerText()).includes(text), 'the hotline case does not show its text');
    assert(((await factsOf(page))['位置'] || '').includes('东霞社区第1网格'), `place: ${JSON.stringify(await factsOf(page))}`);
    state.caseB = { id, text };
    await shot(page, prefix, 'case-hotline');

    const summary = page.locator('.actions-card summary[data-action="whistle"]');
    assert((await summary.count()) === 1, `no 吹哨 on a new case; there are: ${await actionsOn(page)}`);
    await summary.click();
    const boxes = summary.locator('xpath=..').locator('input[type="checkbox"][name="units"]');
    await shot(page, prefix, 'case-whistle-form');
    if ((await boxes.count()) === 0) {
      log('        note: the demo has no departments / partner units, so there is nobody to call in; whistle and report-in skipped');
      await summary.click();
      assertClean(ctx);
      return;
    }
    // The unit of the `dept` account (区城管局·吴建国): its checkbox label shares the name.
    const labels = await boxes.evaluateAll((els) => els.map((e) => e.parentElement.textContent.trim()));
    const pickAt = labels.findIndex((l) => /城管|城市管理/.test(l));
    assert(pickAt >= 0, `no unit of the dept account among ${labels.join(', ')}`);
    await act(page, 'whistle', async (form) => {
      await form.locator('input[name="units"]').nth(pickAt).check();
      await form.getByLabel('备注（选填）').fill('请城管到场');
    });
    assert((await page.locator('.case-side').innerText()).includes('待报到'), 'the called unit is not listed as awaiting report-in');
    await shot(page, prefix, 'case-whistled');
    assertClean(ctx);

    const dctx = await newContext(base);
    try {
      const dpage = await dctx.newPage();
      await login(dpage, base, 'dept');
      await dpage.goto(`${base}/cases?view=tasks&q=${encodeURIComponent(state.caseB.text.slice(0, 20))}`);
      await dpage.locator('.tabs a.active', { hasText: '我的任务' }).waitFor();
      const item = dpage.locator(`.case-item a[href="/cases/${id}"]`);
      assert((await item.count()) === 1, 'the whistled case is not in the department\'s 我的任务');
      await shot(dpage, prefix, 'dept-tasks');
      await Promise.all([dpage.waitForNavigation(), item.click()]);
      await Promise.all([dpage.waitForNavigation(), dpage.locator(`form[action="/cases/${id}/report-in"] button`).click()]);
      assert((await dpage.locator('.alert-ok').innerText()).includes('已报到'), 'no confirmation of the report-in');
      assert((await dpage.locator('.case-side').innerText()).includes('已报到'), 'the unit is not shown as reported in');
      await shot(dpage, prefix, 'dept-reported-in');
      assertClean(dctx);
    } finally {
      await dctx.close();
    }
  });

  await step(`[${label}] (m) leader: 全部案件 只看超期, then 督办 with a deadline`, async () => {
    assert(state.caseB || state.caseA, 'needs a case');
    const ctx = await newContext(base);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'leader');
      await page.goto(`${base}/cases`);
      await page.locator('.tabs a.active', { hasText: '全部案件' }).waitFor();
      await shot(page, prefix, 'leader-cases');
      await page.getByLabel('只看超期').check();
      await Promise.all([page.waitForNavigation(), page.locator('.case-filters button[type="submit"]').click()]);
      assert(new URL(page.url()).searchParams.get('overdue') === '1', `filter not applied: ${page.url()}`);
      const overdue = page.locator('.case-item');
      const n = await overdue.count();
      for (let i = 0; i < n; i++) assert((await overdue.nth(i).innerText()).includes('超期'), `item ${i + 1} is not overdue`);
      log(`        ${n} overdue case(s)`);
      await shot(page, prefix, 'leader-overdue');
      const target = n > 0 && !state.caseB ? await overdue.first().locator('a').getAttribute('href') : `/cases/${(state.caseB || state.caseA).id}`;
      await page.goto(`${base}${target}`);
      const id = caseIdOf(page);
      const until = beijingLocal(48);
      await act(page, 'supervise', async (form) => {
        await form.locator('input[type="datetime-local"]').fill(until);
        await form.getByLabel('备注（选填）').fill('请三天内办结并报告');
      });
      const facts = await factsOf(page);
      const shown = facts['督办时限'] || '';
      const [date, time] = until.split('T');
      assert(shown.includes(`${date} ${time}`), `督办时限 shows "${shown}" for ${until}`);
      assert((await timelineActions(page)).includes('督办'), 'no 督办 in the timeline');
      log(`        #${id} 督办时限 ${shown}`);
      await shot(page, prefix, 'leader-supervised');
      await page.goto(`${base}/cases?view=all&supervised=1`);
      assert((await page.locator(`.case-item a[href="/cases/${id}"]`).count()) === 1, '只看督办 does not list the case');
      assert((await page.locator(`.case-item a[href="/cases/${id}"] .tag-flag`, { hasText: '督办' }).count()) === 1, 'no 督办 flag on the list item');
      await shot(page, prefix, 'leader-supervised-list');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (n) grid worker 巡查上报 with 使用当前位置: the case lands in that grid`, async () => {
    const ctx = await newContext(base, PHONE);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'grid');
      const code = '350503001001001';
      const res = await ctx.request.get(`${base}/api/v1/regions/${code}`);
      assert(res.ok(), `GET /api/v1/regions/${code}: ${res.status()}`);
      const grid = await res.json();
      assert(grid.name === '东霞社区第1网格' && grid.centroid, `region ${code}: ${JSON.stringify(grid).slice(0, 200)}`);
      await ctx.grantPermissions(['geolocation'], { origin: base });
      await ctx.setGeolocation({ latitude: grid.centroid.lat, longitude: grid.centroid.lng, accuracy: 10 });
      await Promise.all([page.waitForNavigation(), page.locator('.tabbar a', { hasText: '巡查上报' }).tap()]);
      await page.locator('h1', { hasText: '巡查上报' }).waitFor();
      await page.selectOption('#category', { label: '供水井盖' });
      await page.fill('#description', `巡查发现：小区东门井盖松动（${label}）`);
      await page.locator('#use-location').tap();
      await page.waitForFunction(() => document.getElementById('lat').value !== '');
      const lat = Number(await page.inputValue('#lat'));
      const lng = Number(await page.inputValue('#lng'));
      assert(Math.abs(lat - grid.centroid.lat) < 1e-5 && Math.abs(lng - grid.centroid.lng) < 1e-5, `pin ${lat},${lng} vs ${JSON.stringify(grid.centroid)}`);
      assert((await page.locator('#pick-map .leaflet-marker-icon').count()) === 1, 'no marker at the device location');
      await page.setInputFiles('#photos', pngFile('manhole.png', [90, 90, 110]));
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-patrol-form');
      await Promise.all([page.waitForNavigation(), page.locator('.case-form button[type="submit"]').tap()]);
      const id = caseIdOf(page);
      const facts = await factsOf(page);
      assert((facts['位置'] || '').includes('东霞社区第1网格'), `the patrol case is not in 东霞社区第1网格: ${JSON.stringify(facts)}`);
      assert((facts['来源'] || '').includes('巡查'), `channel: ${facts['来源']}`);
      await page.locator('#case-map .leaflet-marker-icon').waitFor();
      await assertNoHorizontalScroll(page);
      log(`        patrol case #${id} at ${facts['位置']}`);
      await shot(page, prefix, 'phone-patrol-case');
      assertClean(ctx);
      state.patrol = { ctx, page, id };
    } catch (err) {
      await ctx.close();
      throw err;
    }
  });

  await step(`[${label}] (o) the language link on a case page shows it in English`, async () => {
    assert(state.patrol, 'needs (n)');
    const { ctx, page, id } = state.patrol;
    try {
      await Promise.all([page.waitForNavigation(), page.locator('a.lang-switch').tap()]);
      assert(caseIdOf(page) === id, `the language switch left the case page: ${page.url()}`);
      assert((await page.getAttribute('html', 'lang')).startsWith('en'), 'html lang is not English');
      const body = await page.locator('main, body').first().innerText();
      for (const w of ['Case facts', 'Timeline', 'What you can do', 'Category', 'Reported']) {
        assert(body.includes(w), `English case page lacks "${w}"`);
      }
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'phone-case-english');
      await Promise.all([page.waitForNavigation(), page.locator('a.lang-switch').tap()]);
      assert((await page.getAttribute('html', 'lang')).startsWith('zh'), 'did not switch back to Chinese');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (p) leader: statistics show the indicators and draw the charts; Excel export`, async () => {
    const ctx = await newContext(base);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'leader');
      await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/stats"]').click()]);
      await page.locator('h1').first().waitFor();
      const body = await page.locator('main').innerText();
      for (const w of ['受理率', '按期办结率', '满意率']) assert(body.includes(w), `statistics lack ${w}`);
      // The demo county's 90 days of cases: the charts are drawn (ECharts paints canvases).
      await page.waitForFunction(() => document.querySelectorAll('canvas').length >= 3, null, { timeout: 15_000 });
      const painted = await page.evaluate(() =>
        Array.from(document.querySelectorAll('canvas')).filter((c) => c.width > 50 && c.height > 50).length,
      );
      assert(painted >= 3, `only ${painted} charts drawn`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'stats');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('a[href^="/stats/export.xlsx"]').first().click(),
      ]);
      const file = await download.path();
      const head = fs.readFileSync(file).subarray(0, 2).toString('latin1');
      assert(head === 'PK', `the export is not an xlsx (starts with ${JSON.stringify(head)})`);
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (q) admin issues an Open311 key; a 311 client files with it; the case page shows the answers; revoking stops it`, async () => {
    const ctx = await newContext(base);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'admin');
      await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/admin/open311"]').click()]);
      // A bad limit names the field and keeps what was typed.
      await page.fill('#key-name', '市 12345 平台');
      await page.fill('#key-rate', '0');
      const errorsBefore = ctx.errors.length;
      await Promise.all([page.waitForNavigation(), page.locator('form[action="/admin/open311"] button[type="submit"]').click()]);
      // The refusal is a 4xx answer, which chromium logs; nothing else may have been logged.
      ctx.errors.splice(errorsBefore).filter((e) => !/status of 4\d\d/.test(e)).forEach((e) => ctx.errors.push(e));
      const err = await page.locator('.alert-error').innerText();
      assert(err.includes('每分钟上限'), `the error is "${err}"`);
      assert((await page.inputValue('#key-name')) === '市 12345 平台', 'the name was lost');
      await page.fill('#key-rate', '20');
      await Promise.all([page.waitForNavigation(), page.locator('form[action="/admin/open311"] button[type="submit"]').click()]);
      const key = (await page.locator('#new-key').innerText()).trim();
      assert(key.startsWith('jl311_'), `the new key is "${key}"`);

      // A client files a lift fault with the key: form-encoded, with an attribute answer.
      const form = new URLSearchParams({
        api_key: key,
        service_code: 'repair.lift',
        address_id: '350503001001001',
        'attribute[trapped]': 'no',
        'attribute[lift_no]': 'T-0527',
        description: '3 号楼电梯门关不上，一直报警',
      });
      const res = await fetch(`${base}/open311/v2/requests.json`, { method: 'POST', body: form });
      const receipt = await res.json();
      assert(res.status === 200, `POST answered ${res.status}: ${JSON.stringify(receipt)}`);
      const id = receipt[0].service_request_id;

      await page.goto(`${base}/admin/open311`);
      const row = page.locator('table.table tbody tr', { hasText: '市 12345 平台' });
      const cells = await row.locator('td').allInnerTexts();
      assert(cells[4].trim() === '1', `requests filed shows ${cells[4]}`);
      assert(!cells[5].includes('从未使用'), 'last use is not shown');
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'open311-keys');

      // The community desk sees an ordinary case, with the client's answers.
      const desk = await newContext(base);
      try {
        const deskPage = await desk.newPage();
        await login(deskPage, base, 'community');
        await deskPage.goto(`${base}/cases/${id}`);
        const facts = await deskPage.locator('.kv').first().innerText();
        assert(facts.includes('电梯里现在有人被困吗？') && facts.includes('否'), `answers missing: ${facts}`);
        assert(facts.includes('T-0527'), 'the lift number is not shown');
        const timeline = await deskPage.locator('.timeline').innerText();
        assert(timeline.includes('Open311：市 12345 平台'), `the timeline does not name the client: ${timeline}`);
        await shot(deskPage, prefix, 'open311-case');
        assertClean(desk);
      } finally {
        await desk.close();
      }

      await page.goto(`${base}/admin/open311`);
      await Promise.all([
        page.waitForNavigation(),
        (async () => {
          page.once('dialog', (d) => d.accept());
          await row.locator('button[type="submit"]').click();
        })(),
      ]);
      assert((await row.innerText()).includes('已停用'), 'the key is not shown as revoked');
      const refused = await fetch(`${base}/open311/v2/requests.xml`, { method: 'POST', body: form });
      const xml = await refused.text();
      assert(refused.status === 403 && xml.includes('<errors><error><code>403</code>'), `a revoked key got ${refused.status}: ${xml}`);
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
  });

  await step(`[${label}] (r) community imports a real xlsx with good and bad rows (check and import run as jobs, watched to 完成), finds 覃雪梅 by qxm, reveals her ID with a reason, exports; the access log shows it all`, async () => {
    const ctx = await newContext(base);
    try {
      const page = await ctx.newPage();
      await login(page, base, 'community');
      await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/people/import"]').click()]);
      await page.setInputFiles('#file', path.join(HERE, 'fixtures', 'people.xlsx'));
      await Promise.all([page.waitForNavigation(), page.locator('form[action="/people/import/preview"] button[type="submit"]').click()]);
      // The check runs on the server; its job page shows the result once it is done.
      const checked = await importJobDone(page);
      assert(checked.detail.includes('可导入 4 行'), `the check says: ${checked.detail}`);
      const errors = await page.locator('table.table').last().locator('tbody tr').evaluateAll((trs) =>
        trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim())),
      );
      const has = (row, column, words) => errors.some((e) => e[0] === String(row) && e[1] === column && e[2].includes(words));
      assert(has(7, '身份证号', '校验位'), `no checksum error on row 7: ${JSON.stringify(errors)}`);
      assert(has(8, '手机号', '11 位'), 'no phone error on row 8');
      assert(has(9, '楼栋编码', '不存在'), 'no unknown-building error on row 9');
      assert(has(2, '身份证号', '重复') && has(10, '身份证号', '重复'), 'the duplicate person is not named');
      const report = await page.locator('a[href^="/people/import/errors/"]').getAttribute('href');
      const xlsx = await page.evaluate(async (u) => {
        const r = await fetch(u);
        const b = new Uint8Array(await r.arrayBuffer());
        return String.fromCharCode(b[0], b[1]);
      }, report);
      assert(xlsx === 'PK', 'the error report is not an xlsx');
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'people-import-preview');
      await Promise.all([page.waitForNavigation(), page.locator('form[action="/people/import/confirm"] button[type="submit"]').click()]);
      // The import too: the same job page, the progress card at 完成, then the outcome.
      await importJobDone(page);
      const done = await page.locator('.alert-ok').innerText();
      assert(done.includes('导入 4 人'), `after the import: ${done}`);
      await shot(page, prefix, 'people-import-done');

      // Found by pinyin initials; the ID is masked.
      await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/people"]').click()]);
      await page.fill('#q', 'qxm');
      await Promise.all([page.waitForNavigation(), page.locator('form.people-search button[type="submit"]').click()]);
      const row = page.locator('table.people-table tbody tr', { hasText: '覃雪梅' });
      assert((await row.count()) === 1, 'qxm does not find 覃雪梅');
      const cells = await row.locator('td').allInnerTexts();
      assert(/^\d{3}\*{11}\d{3}[\dX]$/.test(cells[3]), `the ID is not masked as 350***********1234: ${cells[3]}`);
      assert(!cells[3].startsWith('3505'), 'the ID shows in the clear');
      assert(cells[7].includes('独居老人'), `the care tag is not shown: ${cells[7]}`);
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'people-search');

      // Reveal: without a reason refused, with one the full number, shown once.
      await Promise.all([page.waitForNavigation(), row.locator('a').first().click()]);
      const errorsBefore = ctx.errors.length;
      await Promise.all([page.waitForNavigation(), page.locator('button[value="id_number"]').click()]);
      assert((await page.locator('.alert-error').innerText()).includes('事由'), 'a reveal without a reason was not refused');
      ctx.errors.splice(errorsBefore).filter((e) => !/status of 4\d\d/.test(e)).forEach((e) => ctx.errors.push(e));
      await page.fill('#reason', '入户走访核对身份');
      await Promise.all([page.waitForNavigation(), page.locator('button[value="id_number"]').click()]);
      const full = (await page.locator('#id-number').innerText()).trim();
      assert(/^35050319400615002[\dX]$/.test(full), `the revealed ID is "${full}"`);
      await shot(page, prefix, 'people-person-revealed');
      // Coming back to the page later shows it masked again.
      await page.goto(page.url().replace(/\/reveal$/, ''));
      assert(!(await page.locator('#id-number').innerText()).startsWith('3505'), 'the full ID stays on the page');

      // Export the search, masked.
      await page.goto(`${base}/people?q=qxm`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-masked').click()]);
      const file = fs.readFileSync(await download.path());
      assert(file.subarray(0, 2).toString('latin1') === 'PK', 'the export is not an xlsx');

      // The building's dwellings show the imported households.
      await page.goto(`${base}/regions/35050300100100100001/dwellings`);
      const grid = await page.locator('main').innerText();
      assert(grid.includes('覃雪梅') && grid.includes('王德福'), 'the dwellings grid lacks the imported households');
      await assertNoHorizontalScroll(page);
      await shot(page, prefix, 'people-dwellings');
      assertClean(ctx);
    } finally {
      await ctx.close();
    }
    // The street office sees every access on record.
    const audit = await newContext(base);
    try {
      const page = await audit.newPage();
      await login(page, base, 'street');
      await Promise.all([page.waitForNavigation(), page.locator('nav.sidebar a[href="/admin/people-access"]').click()]);
      const rows = await page.locator('table.access-table tbody tr').evaluateAll((trs) =>
        trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim())),
      );
      const by = (action) => rows.filter((r) => r[1] === 'community' && r[2] === action);
      assert(by('导入').length >= 1, `no import on record: ${JSON.stringify(rows.slice(0, 8))}`);
      assert(by('查看').length >= 1, 'no view on record');
      assert(by('查看完整信息').some((r) => r[4] === '身份证号' && r[6] === '入户走访核对身份'), 'the reveal and its reason are not on record');
      assert(by('导出').length >= 1, 'no export on record');
      await shot(page, prefix, 'people-access-log');
      assertClean(audit);
    } finally {
      await audit.close();
    }
  });

  if (state.community) await state.community.ctx.close();
  if (state.resident) await state.resident.ctx.close();

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
