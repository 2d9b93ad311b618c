// sluice web UI: one file, no dependencies, no build step (docs/ui.md).
//
// A single-page app: the server answers index.html for every non-API path, and this file
// renders the page for location.pathname from the JSON API under /api/v1/. Links are real
// <a href> elements; plain left-clicks are turned into history.pushState navigations.
//
// Every value from the API reaches the document as text: elements are built with
// createElement/createElementNS, text with textContent or text nodes, attributes with
// setAttribute. Nothing here parses HTML, so a log line or a dataset value holding <script>
// is shown, not run.
//
// Browser tests rely on: document.body.dataset.page (which page) and dataset.ready ("0" while
// a page loads, "1" once it is rendered), and the ids and data-* attributes listed in
// docs/ui.md's pages. Keep them stable.

'use strict';

const API = '/api/v1';
const SVG_NS = 'http://www.w3.org/2000/svg';
const POLL_MS = 3000;       // pages with live data refresh this often while shown
const LOG_POLL_MS = 1000;   // a running attempt's log is followed this often
const LOG_CHUNK = 65536;    // bytes per log request
const LOG_TAIL = 1 << 20;   // longer logs show their last MiB (the download has all of it)
const GRID_RUNS = 30;
const TREND_RUNS = 90;
const PREVIEW_ROWS = 50;

// Statuses of runs and attempts, in legend order, with a label.
const STATUS_LABELS = [
  ['success', 'success'],
  ['running', 'running'],
  ['failed', 'failed'],
  ['timed_out', 'timed out'],
  ['cancelled', 'cancelled'],
  ['upstream_failed', 'upstream failed'],
  ['cleared', 'cleared'],
  ['skipped', 'skipped'],
  ['queued', 'queued'],
  ['none', 'no run'],
];
const KNOWN_STATUSES = new Set([...STATUS_LABELS.map(([s]) => s), 'not_selected']);

// ---------------------------------------------------------------------------------------------
// DOM helpers

// Sets attributes, data-* values, listeners and text on a node. Values are never parsed as HTML.
function setProps(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'data') {
      for (const [dk, dv] of Object.entries(value)) {
        if (dv !== undefined && dv !== null) node.dataset[dk] = String(dv);
      }
    } else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'text') {
      node.textContent = String(value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

// Appends children: nodes, strings and numbers (as text), arrays of those; skips null/false.
function appendAll(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendAll(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  return appendAll(node, children);
}

function svg(tag, props, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setProps(node, props);
  return appendAll(node, children);
}

// An SVG <title>: the hover text of its parent.
function svgTitle(text) {
  return svg('title', {}, text);
}

const enc = encodeURIComponent;

// Text width in pixels for SVG layout (SVG text cannot be measured before it is attached).
// `mono` measures in the monospace font the stylesheet uses for names (var(--mono)).
const measureCanvas = document.createElement('canvas').getContext('2d');
function textWidth(text, px = 12, {bold = false, mono = false} = {}) {
  const style = getComputedStyle(document.body);
  const family = (mono ? style.getPropertyValue('--mono').trim() : style.fontFamily) || 'sans-serif';
  measureCanvas.font = `${bold ? '600 ' : ''}${px}px ${family}`;
  return measureCanvas.measureText(String(text)).width;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Formatting

function statusOf(value) {
  return value ? String(value) : 'none';
}

// The CSS class of a status; unknown statuses get a neutral colour.
function statusClass(status) {
  const s = statusOf(status);
  return 'st st-' + (KNOWN_STATUSES.has(s) ? s : 'other');
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

// A record time (UTC, "2026-11-22T01:00:03.120Z") in the browser's time zone.
function fmtTime(iso, withSeconds = true) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return `${date} ${time}${withSeconds ? ':' + pad2(d.getSeconds()) : ''}`;
}

// A time that carries its zone's offset (data intervals, next runs) as the pipeline's wall
// time: converting it to the browser's zone would hide what the schedule means.
function fmtWall(iso) {
  if (!iso) return '—';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)?(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(String(iso));
  if (!m) return String(iso);
  const seconds = m[3] && m[3] !== ':00' ? m[3] : '';
  return `${m[1]} ${m[2]}${seconds}${m[5] ? ' ' + m[5] : ''}`;
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return '—';
  const s = Number(seconds);
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad2(Math.round(s % 60))}s`;
  const h = Math.floor(s / 3600);
  return `${h}h ${pad2(Math.floor((s % 3600) / 60))}m`;
}

function fmtInt(n) {
  if (n === null || n === undefined || n === '') return '—';
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString('en-US') : String(n);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  let v = Number(n);
  if (!Number.isFinite(v)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// 1234567 -> "1.2M": axis labels.
function fmtCompact(n) {
  const v = Number(n);
  const abs = Math.abs(v);
  const trim = (x) => String(Number(x.toFixed(1)));
  if (abs >= 1e9) return trim(v / 1e9) + 'G';
  if (abs >= 1e6) return trim(v / 1e6) + 'M';
  if (abs >= 1e3) return trim(v / 1e3) + 'k';
  return trim(v);
}

// The seconds a run or attempt took, or has taken so far while running.
function elapsedSeconds(item) {
  if (item.seconds !== null && item.seconds !== undefined) return Number(item.seconds);
  if (!item.started_at) return null;
  const end = item.ended_at ? Date.parse(item.ended_at) : Date.now();
  return Math.max(0, (end - Date.parse(item.started_at)) / 1000);
}

// ---------------------------------------------------------------------------------------------
// URLs of pages and API calls

const urls = {
  pipelines: () => '/',
  pipeline: (name) => `/pipelines/${enc(name)}`,
  // RUN in a page URL is the run id: a run key can have several runs (reruns, clears).
  run: (name, runId) => `/pipelines/${enc(name)}/runs/${enc(runId)}`,
  attempt: (name, runId, attemptId) =>
    `/pipelines/${enc(name)}/runs/${enc(runId)}/attempts/${enc(attemptId)}`,
  datasets: () => '/datasets',
  dataset: (fullName, query = {}) => withQuery(`/datasets/${enc(fullName)}`, query),
  logText: (name, attemptId) => `${API}/pipelines/${enc(name)}/attempts/${enc(attemptId)}/log.txt`,
};

function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

// "raw.citizens" whether the API gives the name with its zone or beside it.
function datasetFullName(d) {
  const name = String(d.name ?? '');
  return name.includes('.') || !d.zone ? name : `${d.zone}.${name}`;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Calls the JSON API. POSTs always send a JSON body (the server refuses anything else).
// A 401 sends the user to /login (unless `login` is set: the login form handles its own).
async function api(path, {method = 'GET', body, signal, login = false} = {}) {
  const init = {method, headers: {Accept: 'application/json'}, signal, credentials: 'same-origin'};
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the sluice server (${e.message})`);
  }
  if (response.status === 401 && !login) {
    if (session) session.signed_in = false;
    goToLogin();
    throw new ApiError(401, 'sign-in required');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    if (response.ok) throw new ApiError(response.status, `${path}: the answer is not JSON`);
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

function isQuiet(error) {
  return error && (error.name === 'AbortError' || error.status === 401);
}

// ---------------------------------------------------------------------------------------------
// Messages: #flash for the outcome of an action, #error for API errors while loading a page.

function flash(text, kind = 'ok') {
  const box = document.getElementById('flash');
  box.replaceChildren(
    el('span', {class: 'flash-text'}, text),
    // The × is drawn by CSS so that the text of #flash is the message alone.
    el('button', {type: 'button', class: 'link dismiss', 'aria-label': 'dismiss', title: 'dismiss',
      onclick: () => box.replaceChildren()}));
  box.className = kind;
}

function showError(text) {
  const box = document.getElementById('error');
  if (text) box.replaceChildren(el('span', {}, text));
  else box.replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// Page lifecycle: one PageContext per shown page. Leaving the page stops its polling and aborts
// its requests, so a slow answer for a page that is gone never lands on the next one.

class PageContext {
  constructor(name, main) {
    this.name = name;
    this.main = main;
    this.alive = true;
    this.controller = new AbortController();
    this.timers = new Set();
    this.loader = null;
    this.rendered = new WeakMap();  // section node -> JSON it was last rendered from
    this.onParams = null;           // same page, other params (a run's selected attempt)
    this.onStop = [];
    this.queue = Promise.resolve();  // loads run one after another
    this.pending = 0;                // loads asked for and not finished
  }

  stop() {
    this.alive = false;
    this.controller.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const fn of this.onStop) fn();
  }

  api(path, opts = {}) {
    return api(path, {...opts, signal: this.controller.signal});
  }

  setTitle(text) {
    document.title = text ? `${text} · sluice` : 'sluice';
  }

  ready(flag) {
    if (this.alive) document.body.dataset.ready = flag ? '1' : '0';
  }

  // Renders build(data) into node unless node already shows exactly this data, so that a poll
  // that brings nothing new does not reset hover titles, scroll positions or focus.
  show(node, data, build) {
    const key = JSON.stringify(data);
    if (this.rendered.get(node) === key) return;
    this.rendered.set(node, key);
    node.replaceChildren(...[].concat(build(data)).filter(Boolean));
  }

  // Runs a loader after the ones already asked for; shows its error in #error (and keeps what
  // is on screen). ready is "0" until every load asked for has finished, so a poll that ends
  // first cannot announce the page ready before the refresh that follows an action. Polls are
  // `background`: they leave ready at "1" while the page shows complete data.
  load(loader = this.loader, {background = false} = {}) {
    this.pending++;
    if (!background) this.ready(false);
    const run = async () => {
      try {
        await loader();
        if (this.alive) showError('');
      } catch (e) {
        if (this.alive && !isQuiet(e)) showError(e.message);
      } finally {
        if (--this.pending === 0) this.ready(true);
      }
    };
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  // Loads now, then every `ms` while the page is shown and `keepGoing()` holds.
  async start(loader, ms, keepGoing = () => true) {
    this.loader = loader;
    await this.load();
    if (ms) this.poll(ms, loader, keepGoing);
  }

  // Polls by chaining timeouts (never two loads at once); skips while the tab is hidden.
  poll(ms, loader, keepGoing = () => true) {
    const tick = async () => {
      this.timers.delete(timer);
      if (!this.alive) return;
      if (!document.hidden && keepGoing()) await this.load(loader, {background: true});
      if (this.alive) {
        timer = setTimeout(tick, ms);
        this.timers.add(timer);
      }
    };
    let timer = setTimeout(tick, ms);
    this.timers.add(timer);
  }

  // Reloads after an action, with ready "0" until it is shown.
  async refresh() {
    if (this.alive && this.loader) await this.load();
  }
}

// ---------------------------------------------------------------------------------------------
// Router

let session = null;  // {token_required, signed_in} from GET /session
let current = null;  // the PageContext shown

const ROUTES = [
  {page: 'pipelines', re: /^\/(?:pipelines\/?)?$/, params: [], render: renderPipelinesPage},
  {page: 'pipeline', re: /^\/pipelines\/([^/]+)\/?$/, params: ['name'], render: renderPipelinePage},
  {
    page: 'run',
    re: /^\/pipelines\/([^/]+)\/runs\/([^/]+)(?:\/attempts\/([^/]+))?\/?$/,
    params: ['name', 'run', 'attempt'],
    same: ['name', 'run'],  // another attempt of the same run keeps the page
    render: renderRunPage,
  },
  {page: 'datasets', re: /^\/datasets\/?$/, params: [], render: renderDatasetsPage},
  {
    page: 'dataset',
    re: /^\/datasets\/([^/]+)\/?$/,
    params: ['dataset'],
    same: ['dataset', 'pipeline'],
    render: renderDatasetPage,
  },
  {page: 'login', re: /^\/login\/?$/, params: [], render: renderLoginPage},
];

function decodeSegment(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s;
  }
}

function matchRoute(url) {
  for (const r of ROUTES) {
    const m = r.re.exec(url.pathname);
    if (!m) continue;
    const params = {};
    r.params.forEach((p, i) => {
      if (m[i + 1] !== undefined) params[p] = decodeSegment(m[i + 1]);
    });
    for (const [k, v] of url.searchParams) params[k] = v;
    return {route: r, params};
  }
  return {route: {page: 'notfound', params: [], render: renderNotFoundPage}, params: {}};
}

function navigate(path, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

// Only a path of this site: "next" comes from the URL and must not send the user elsewhere.
function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login')
    ? next : '/';
}

function goToLogin() {
  if (location.pathname === '/login') return;
  navigate('/login?next=' + enc(location.pathname + location.search), {replace: true});
}

async function route() {
  const url = new URL(location.href);
  if (session === null) {
    try {
      session = await api('/session', {login: true});
    } catch (e) {
      // No session answer: assume no token and let the pages show the API's errors.
      session = {token_required: false, signed_in: false};
      showError(e.message);
    }
  }
  if (session.token_required && !session.signed_in && url.pathname !== '/login') {
    goToLogin();
    return;
  }
  const {route: r, params} = matchRoute(url);
  const sameKey = r.same ? r.page + JSON.stringify(r.same.map((p) => params[p])) : null;
  if (current && current.alive && current.key && current.key === sameKey && current.onParams) {
    current.onParams(params);
    return;
  }
  if (current) current.stop();
  document.getElementById('confirm')?.remove();
  document.getElementById('flash').replaceChildren();
  showError('');
  const main = document.getElementById('main');
  main.replaceChildren();
  const ctx = new PageContext(r.page, main);
  ctx.key = sameKey;
  current = ctx;
  document.body.dataset.page = r.page;
  document.body.dataset.ready = '0';
  const section = r.page.startsWith('dataset') ? 'datasets'
    : ['pipelines', 'pipeline', 'run'].includes(r.page) ? 'pipelines' : '';
  for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.nav === section);
  try {
    await r.render(ctx, params, url);
  } catch (e) {
    if (!ctx.alive || isQuiet(e)) return;
    showError(e.message);
    ctx.ready(true);
  }
}

// Plain left-clicks on links of this site navigate without reloading; anything else (middle
// click, ctrl/cmd-click, target, download, API links) is left to the browser.
function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest && event.target.closest('a');
  if (!a || a.hasAttribute('download')) return;
  const target = a.getAttribute('target');
  if (target && target !== '_self') return;
  const href = a.getAttribute('href');  // also right for SVG <a>, whose .href is not a string
  if (!href) return;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  const path = url.pathname + url.search + url.hash;
  if (path !== location.pathname + location.search + location.hash) {
    navigate(path);
    window.scrollTo(0, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Small shared components

function badge(status) {
  const s = statusOf(status);
  return el('span', {class: `badge ${statusClass(s)}`, data: {status: s}}, s.replace(/_/g, ' '));
}

function legend() {
  return el('div', {class: 'legend', 'aria-label': 'status colours'},
    STATUS_LABELS.map(([s, label]) =>
      el('span', {class: 'legend-item'}, el('span', {class: `swatch ${statusClass(s)}`}), label)));
}

function crumbs(...items) {
  const nav = el('nav', {class: 'crumbs'});
  items.forEach(([label, href], i) => {
    if (i) nav.append(el('span', {class: 'sep'}, '›'));
    nav.append(href ? el('a', {href}, label) : el('span', {}, label));
  });
  return nav;
}

function section(title, ...children) {
  return el('section', {class: 'panel'}, title ? el('h2', {}, title) : null, ...children);
}

function muted(text) {
  return el('span', {class: 'muted'}, text);
}

function table(props, headers, rows) {
  return el('table', {class: 'data', ...props},
    el('thead', {}, el('tr', {}, headers.map((h) =>
      typeof h === 'string' ? el('th', {}, h) : el('th', {class: h.class}, h.label)))),
    el('tbody', {}, rows));
}

function td(content, cls) {
  return el('td', {class: cls}, content);
}

function num(content) {
  return el('td', {class: 'num'}, content);
}

// Text that may be long or hold several lines (errors): shown as text, wrapped.
function errorText(text) {
  if (!text) return null;
  return el('div', {class: 'error-text', title: String(text)}, String(text));
}

// A labelled form control for the confirm dialog.
function field(label, control, hint) {
  const isCheck = control.type === 'checkbox';
  return el('label', {class: isCheck ? 'field check' : 'field'},
    isCheck ? control : el('span', {class: 'field-label'}, label),
    isCheck ? el('span', {}, label) : control,
    hint ? el('span', {class: 'hint'}, hint) : null);
}

function taskSelect(tasks, allLabel = 'all tasks') {
  return el('select', {name: 'task'},
    el('option', {value: ''}, allLabel),
    tasks.map((t) => el('option', {value: t}, t)));
}

// ---------------------------------------------------------------------------------------------
// Confirm dialog: every action shows what it will do and waits for a confirmation.
//
// With `preview`, #confirm-ok stays disabled until a dry run (#confirm-preview) succeeded for
// the inputs as they are; changing an input asks for a new preview. `ok` does the action and
// returns the message for #flash; `done` runs after it (a refresh of the page).

function formValues(form) {
  const values = {};
  for (const input of form.elements) {
    if (!input.name) continue;
    if (input.type === 'checkbox') values[input.name] = input.checked;
    else if (input.type === 'number') values[input.name] = input.value === '' ? null : Number(input.value);
    else values[input.name] = input.value.trim();
  }
  return values;
}

function openConfirm({title, intro, fields = [], preview, ok, okLabel = 'Confirm', cancelLabel = 'Cancel', done}) {
  document.getElementById('confirm')?.remove();
  const summary = el('div', {id: 'confirm-summary', class: 'summary', 'aria-live': 'polite'});
  const okButton = el('button', {type: 'button', id: 'confirm-ok', class: 'primary'}, okLabel);
  const previewButton = preview
    ? el('button', {type: 'button', id: 'confirm-preview'}, 'Preview (dry run)') : null;
  const cancelButton = el('button', {type: 'button', id: 'confirm-cancel'}, cancelLabel);
  const form = el('form', {class: 'confirm-form', novalidate: true},
    el('h2', {}, title),
    intro ? el('p', {class: 'intro'}, intro) : null,
    fields.length ? el('div', {class: 'fields'}, fields) : null,
    summary,
    el('div', {class: 'buttons'}, previewButton, el('span', {class: 'spacer'}), cancelButton, okButton));
  const dialog = el('dialog', {id: 'confirm'}, form);
  document.body.append(dialog);

  let previewedFor = null;  // the inputs (as JSON) the shown preview is for
  const inputsKey = () => JSON.stringify(formValues(form));
  const setSummary = (nodes, kind = '') => {
    summary.className = `summary ${kind}`;
    summary.replaceChildren(...[].concat(nodes).filter(Boolean));
  };
  okButton.disabled = Boolean(preview);
  if (preview) setSummary(muted('Preview first: it shows what will happen, and changes nothing.'));

  const busy = (flag) => {
    for (const b of [okButton, previewButton, cancelButton]) if (b) b.disabled = flag;
    if (!flag) okButton.disabled = Boolean(preview) && previewedFor !== inputsKey();
  };

  const runPreview = async () => {
    busy(true);
    setSummary(muted('Asking the server…'));
    try {
      const key = inputsKey();
      const nodes = await preview(formValues(form));
      previewedFor = key;
      setSummary(nodes);
    } catch (e) {
      previewedFor = null;
      setSummary(el('span', {}, e.message), 'error');
    } finally {
      busy(false);
    }
  };

  const runOk = async () => {
    busy(true);
    try {
      const message = await ok(formValues(form));
      dialog.close();
      flash(message, 'ok');
    } catch (e) {
      dialog.close();
      if (e.status !== 401) flash(e.message, 'error');
    }
    if (done) await done();
  };

  form.addEventListener('input', () => {
    if (!preview) return;
    const stale = previewedFor !== inputsKey();
    okButton.disabled = stale;
    if (stale && previewedFor !== null) {
      setSummary(muted('The inputs changed: preview again.'));
      previewedFor = null;
    }
  });
  // Enter previews when there is nothing to confirm yet, and confirms after a preview.
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!okButton.disabled) runOk();
    else if (preview && !previewButton.disabled) runPreview();
  });
  if (previewButton) previewButton.addEventListener('click', runPreview);
  okButton.addEventListener('click', () => { if (!okButton.disabled) runOk(); });
  cancelButton.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  dialog.showModal();
  const first = form.querySelector('input:not([type=checkbox]), select');
  if (first) first.focus();
  return dialog;
}

// A key/value list for dialog summaries and run details.
function facts(pairs) {
  return el('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) =>
    [el('dt', {}, k), el('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]));
}

// ---------------------------------------------------------------------------------------------
// Page: / (every pipeline)

async function renderPipelinesPage(ctx) {
  ctx.setTitle('Pipelines');
  const list = el('div', {class: 'table-wrap'});
  ctx.main.append(
    el('div', {class: 'page-head'}, el('h1', {}, 'Pipelines'), legend()),
    list);
  await ctx.start(async () => {
    const data = await ctx.api('/pipelines');
    ctx.show(list, data.pipelines || [], pipelinesTable);
  }, POLL_MS);
}

function pipelinesTable(pipelines) {
  if (!pipelines.length) {
    return el('p', {class: 'empty', id: 'pipelines'}, 'No pipelines: start sluice ui with a pipeline file or folder.');
  }
  const rows = pipelines.map((p) => el('tr', {data: {pipeline: p.name}},
    td([
      el('a', {href: urls.pipeline(p.name), class: 'strong'}, p.name),
      p.paused ? el('span', {class: 'badge paused'}, 'paused') : null,
      p.file ? el('div', {class: 'muted small mono'}, p.file) : null,
    ]),
    td(scheduleText(p)),
    td(p.next_run
      ? [el('div', {class: 'mono'}, p.next_run.run_key), el('div', {class: 'muted small'}, fmtWall(p.next_run.starts_at))]
      : muted('—')),
    td(p.last_run ? lastRunCell(p.name, p.last_run) : muted('never ran')),
    td(runStrip(p.name, p.recent || [])),
    td(problemList(p.problems)),
  ));
  return table({id: 'pipelines'},
    ['Pipeline', 'Schedule', 'Next run', 'Last run', 'Recent runs (oldest → newest)', 'Problems'], rows);
}

function scheduleText(p) {
  if (!p.schedule || p.schedule === 'none') return muted('no schedule');
  return [el('code', {}, p.schedule), p.timezone ? el('div', {class: 'muted small'}, p.timezone) : null];
}

function lastRunCell(name, run) {
  return [
    el('div', {}, badge(run.status), ' ', el('a', {href: urls.run(name, run.run_id), class: 'mono'}, run.run_key || run.ds)),
    el('div', {class: 'muted small'}, fmtTime(run.started_at, false), ' · ', fmtDuration(elapsedSeconds(run))),
  ];
}

// The last runs as small squares, each a link to its run.
function runStrip(name, runs) {
  if (!runs.length) return muted('—');
  return el('div', {class: 'strip'}, runs.map((r) =>
    el('a', {
      href: urls.run(name, r.run_id),
      class: `sq ${statusClass(r.status)}`,
      title: `${r.run_key || r.ds} ${statusOf(r.status)}`,
      data: {runKey: r.run_key, status: statusOf(r.status)},
    })));
}

function problemList(problems) {
  if (!problems || !problems.length) return muted('—');
  return el('ul', {class: 'problems'}, problems.map((p) => el('li', {}, String(p))));
}

// ---------------------------------------------------------------------------------------------
// Page: /pipelines/NAME (DAG, grid, trends, actions)

async function renderPipelinePage(ctx, {name}) {
  ctx.setTitle(name);
  const base = `/pipelines/${enc(name)}`;
  const head = el('div', {class: 'pipeline-head'});
  const dag = el('div', {class: 'dag-wrap'});
  const grid = el('div', {class: 'grid-wrap'});
  const trends = el('div', {class: 'trends'});
  ctx.main.append(
    crumbs(['Pipelines', urls.pipelines()], [name]),
    head,
    section('Graph', legend(), dag),
    section(`Grid: the last ${GRID_RUNS} run keys`, grid),
    section(`Trends: the last ${TREND_RUNS} run keys`, trends));

  await ctx.start(async () => {
    const [p, g, t] = await Promise.allSettled([
      ctx.api(base),
      ctx.api(`${base}/grid?limit=${GRID_RUNS}`),
      ctx.api(`${base}/trends?limit=${TREND_RUNS}`),
    ]);
    if (p.status === 'rejected') throw p.reason;
    ctx.show(head, p.value, (d) => pipelineHead(ctx, d));
    ctx.show(dag, p.value.tasks || [], (tasks) => dagView(name, tasks, dag.clientWidth));
    if (g.status === 'fulfilled') ctx.show(grid, g.value, (d) => gridView(name, d));
    if (t.status === 'fulfilled') ctx.show(trends, t.value.points || [], (d) => trendViews(name, d));
    const failed = [g, t].find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }, POLL_MS);
}

function pipelineHead(ctx, p) {
  const name = p.name;
  const tasks = (p.tasks || []).map((t) => t.id);
  const pools = Object.entries(p.pools || {}).map(([k, v]) => `${k}=${v}`).join(', ');
  const meta = [
    ['Schedule', p.schedule && p.schedule !== 'none'
      ? [el('code', {}, p.schedule), p.timezone ? ` in ${p.timezone}` : ''] : 'none'],
    ['Start date', p.start_date || '—'],
    p.end_date ? ['End date', p.end_date] : null,
    ['Catch-up', p.catchup ? 'yes' : 'no'],
    ['Max active runs', p.max_active_runs ?? '—'],
    pools ? ['Pools', pools] : null,
    ['File', el('span', {class: 'mono'}, p.file || '—')],
  ];
  const next = (p.next_runs || []).slice(0, 3);
  const actions = el('div', {class: 'actions'},
    el('button', {type: 'button', id: 'action-run', onclick: () => runDialog(ctx, name, tasks)}, 'Run a date…'),
    el('button', {type: 'button', id: 'action-backfill', onclick: () => backfillDialog(ctx, name)}, 'Backfill…'),
    p.paused
      ? el('button', {type: 'button', id: 'action-unpause', onclick: () => pauseDialog(ctx, name, false)}, 'Unpause')
      : el('button', {type: 'button', id: 'action-pause', onclick: () => pauseDialog(ctx, name, true)}, 'Pause'));
  return [
    el('div', {class: 'title-row'},
      el('h1', {}, name),
      p.paused ? el('span', {class: 'badge paused', id: 'paused'}, 'paused') : null,
      el('span', {class: 'spacer'}),
      actions),
    el('div', {class: 'meta-row'},
      meta.filter(Boolean).map(([k, v]) => el('span', {class: 'meta'}, el('span', {class: 'meta-key'}, k), ' ', v))),
    (p.problems || []).length ? el('div', {class: 'meta-row'},
      el('span', {class: 'meta-key'}, 'Problems'), problemList(p.problems)) : null,
    next.length ? el('div', {class: 'meta-row'},
      el('span', {class: 'meta-key'}, 'Next runs'),
      next.map((n) => el('span', {class: 'meta', title: `data interval ${fmtWall(n.interval_start)} → ${fmtWall(n.interval_end)}`},
        el('span', {class: 'mono'}, n.run_key), muted(` at ${fmtWall(n.starts_at)}`)))) : null,
  ];
}

// --- Actions of the pipeline page

function runDialog(ctx, name, tasks) {
  const base = `/pipelines/${enc(name)}/runs`;
  const body = (v, dryRun) => ({
    date: v.date,
    tasks: v.task ? [v.task] : undefined,
    downstream: v.task ? v.downstream : undefined,
    force: v.force,
    dry_run: dryRun || undefined,
  });
  openConfirm({
    title: `Run ${name}`,
    intro: 'Runs the pipeline for one logical date (or run key). Tasks that already succeeded for it are skipped unless forced.',
    fields: [
      field('Date or run key', el('input', {name: 'date', type: 'text', placeholder: 'YYYY-MM-DD or run key', required: true, autocomplete: 'off', spellcheck: 'false'})),
      field('Task', taskSelect(tasks)),
      field('and the tasks downstream of it', el('input', {name: 'downstream', type: 'checkbox'})),
      field('force: redo tasks that succeeded', el('input', {name: 'force', type: 'checkbox'})),
    ],
    preview: async (v) => {
      if (!v.date) throw new Error('Give a date (YYYY-MM-DD) or a run key.');
      const r = await api(base, {method: 'POST', body: body(v, true)});
      return facts([
        ['Run key', el('span', {class: 'mono', id: 'confirm-run-key'}, r.run_key)],
        ['Logical date', r.ds],
        ['Data interval', `${fmtWall(r.interval_start)} → ${fmtWall(r.interval_end)}`],
        ['Tasks', v.task ? `${v.task}${v.downstream ? ' and downstream' : ''}` : 'all'],
        v.force ? ['Force', 'yes: succeeded tasks run again'] : null,
      ]);
    },
    okLabel: 'Start run',
    ok: async (v) => {
      const r = await api(base, {method: 'POST', body: body(v, false)});
      return `Started ${name} for ${r.run_key}` + (r.pid ? ` (process ${r.pid}).` : '.');
    },
    done: () => ctx.refresh(),
  });
}

function backfillDialog(ctx, name) {
  const path = `/pipelines/${enc(name)}/backfill`;
  const body = (v, dryRun) => ({
    from: v.from,
    to: v.to,
    rerun: v.rerun || undefined,
    parallel: v.parallel || undefined,
    dry_run: dryRun || undefined,
  });
  openConfirm({
    title: `Backfill ${name}`,
    intro: 'Runs every data interval whose logical date is in the range, oldest first.',
    fields: [
      field('From', el('input', {name: 'from', type: 'text', placeholder: 'YYYY-MM-DD', required: true, autocomplete: 'off'})),
      field('To', el('input', {name: 'to', type: 'text', placeholder: 'YYYY-MM-DD', required: true, autocomplete: 'off'})),
      field('Rerun', el('select', {name: 'rerun'},
        el('option', {value: ''}, 'only intervals that never finished'),
        el('option', {value: 'failed'}, 'failed too (resuming)'),
        el('option', {value: 'all'}, 'all, from scratch'))),
      field('Parallel runs', el('input', {name: 'parallel', type: 'number', min: 1, max: 64, value: 1})),
    ],
    preview: async (v) => {
      if (!v.from || !v.to) throw new Error('Give both dates, From and To (YYYY-MM-DD).');
      const r = await api(path, {method: 'POST', body: body(v, true)});
      const plan = r.plan || [];
      const skipped = r.skipped || [];
      return [
        el('p', {}, plan.length ? `${plan.length} run${plan.length === 1 ? '' : 's'} to start:` : 'Nothing to run in this range.'),
        plan.length ? el('ul', {class: 'keys', id: 'confirm-plan'}, plan.map((k) => el('li', {class: 'mono'}, k))) : null,
        skipped.length ? el('p', {}, `${skipped.length} skipped:`) : null,
        skipped.length ? el('ul', {class: 'keys'}, skipped.map((s) =>
          el('li', {}, el('span', {class: 'mono'}, s.run_key), muted(` ${s.why}`)))) : null,
      ];
    },
    okLabel: 'Start backfill',
    ok: async (v) => {
      const r = await api(path, {method: 'POST', body: body(v, false)});
      const n = (r.plan || []).length;
      return `Backfill of ${name} started: ${n} run${n === 1 ? '' : 's'}` + (r.pid ? ` (process ${r.pid}).` : '.');
    },
    done: () => ctx.refresh(),
  });
}

function pauseDialog(ctx, name, pause) {
  openConfirm({
    title: `${pause ? 'Pause' : 'Unpause'} ${name}`,
    intro: pause
      ? 'A paused pipeline gets no new scheduled runs. Runs going on now finish; manual runs and backfills still work.'
      : 'The scheduler starts its due runs again.',
    okLabel: pause ? 'Pause' : 'Unpause',
    ok: async () => {
      const r = await api(`/pipelines/${enc(name)}/${pause ? 'pause' : 'unpause'}`, {method: 'POST', body: {}});
      const paused = r && typeof r.paused === 'boolean' ? r.paused : pause;
      return `${name} is ${paused ? 'paused' : 'not paused'}.`;
    },
    done: () => ctx.refresh(),
  });
}

// --- The DAG

// Lays out tasks left to right in layers (a task's layer is its longest path from a source),
// orders each layer by the barycenter of its neighbours (a few down and up sweeps, the usual
// Sugiyama heuristic), and routes edges that skip layers through placeholder nodes so they
// do not cross boxes. The datasets a task writes sit as small boxes right of it, and edges
// that carry a dataset leave from that box: the data visibly flows between tasks.
const DAG = {
  taskH: 40, minTaskW: 110, chipH: 18, chipGap: 4, boxToChip: 10,
  colGap: 34, rowGap: 18, pad: 12, dummyH: 6, inputIndent: 8,
};

function layoutDag(tasks) {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const writer = new Map();
  for (const t of tasks) for (const d of t.writes || []) if (!writer.has(d)) writer.set(d, t.id);

  // Layers: longest path from a source (a cycle, which the API never sends, is cut).
  const layerOf = new Map();
  const visiting = new Set();
  const layer = (id) => {
    if (layerOf.has(id)) return layerOf.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let l = 0;
    for (const u of byId.get(id).upstream || []) if (byId.has(u)) l = Math.max(l, layer(u) + 1);
    visiting.delete(id);
    layerOf.set(id, l);
    return l;
  };
  tasks.forEach((t) => layer(t.id));
  const layerCount = Math.max(0, ...layerOf.values()) + 1;

  // Nodes: tasks, and placeholders for edges that span layers.
  const nodes = new Map();
  const layers = Array.from({length: layerCount}, () => []);
  for (const t of tasks) {
    const writes = t.writes || [];
    const inputs = (t.reads || []).filter((d) => !writer.has(d));  // from outside this pipeline
    const status = statusOf(t.latest && t.latest.status);
    const w = Math.max(DAG.minTaskW,
      textWidth(t.id, 12, {bold: true}) + 22, textWidth(`${t.kind || ''} · ${status}`, 11) + 22);
    const chipsH = (n) => n ? n * DAG.chipH + (n - 1) * DAG.chipGap : 0;
    const h = Math.max(DAG.taskH, chipsH(writes.length) + 18);
    // Datasets read from outside the pipeline sit above the box (left of it, edges arrive).
    const top = inputs.length ? chipsH(inputs.length) + 12 : 0;
    const node = {id: t.id, task: t, status, layer: layerOf.get(t.id), w, h, top, ups: [], downs: [],
      writes, inputs, chipsH: chipsH(writes.length)};
    nodes.set(t.id, node);
    layers[node.layer].push(node);
  }
  const edges = [];
  let dummyCount = 0;
  for (const t of tasks) {
    const to = nodes.get(t.id);
    for (const u of t.upstream || []) {
      const from = nodes.get(u);
      if (!from) continue;
      const datasets = from.writes.filter((d) => (t.reads || []).includes(d));
      const chain = [from];
      for (let l = from.layer + 1; l < to.layer; l++) {
        const dummy = {id: `~${dummyCount++}`, dummy: true, layer: l, w: 0, h: DAG.dummyH, top: 0, ups: [], downs: []};
        layers[l].push(dummy);
        chain.push(dummy);
      }
      chain.push(to);
      for (let i = 1; i < chain.length; i++) {
        chain[i - 1].downs.push(chain[i]);
        chain[i].ups.push(chain[i - 1]);
      }
      edges.push({from, to, via: chain.slice(1, -1), datasets});
    }
  }

  orderLayers(layers);
  const columns = placeColumns(layers);
  for (const l of layers) for (const n of l) n.slot = n.top + n.h;
  const height = Math.max(...layers.map((l) => layerHeight(l)), DAG.taskH) + 2 * DAG.pad;
  for (const l of layers) {
    let y = DAG.pad + (height - 2 * DAG.pad - layerHeight(l)) / 2;
    for (const n of l) {
      n.y = y + n.top;
      y += n.slot + DAG.rowGap;
    }
  }
  const width = columns.length ? columns[columns.length - 1].right + DAG.pad : 2 * DAG.pad;
  return {nodes: [...nodes.values()], edges, columns, width, height};
}

function orderLayers(layers) {
  const position = (n) => layers[n.layer].indexOf(n);
  const barycenter = (n, neighbours) =>
    neighbours.length ? neighbours.reduce((s, m) => s + position(m), 0) / neighbours.length : position(n);
  const sortLayer = (l, pick) => {
    const keyed = layers[l].map((n, i) => ({n, key: barycenter(n, pick(n)), i}));
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    layers[l] = keyed.map((k) => k.n);
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let l = 1; l < layers.length; l++) sortLayer(l, (n) => n.ups);
    for (let l = layers.length - 2; l >= 0; l--) sortLayer(l, (n) => n.downs);
  }
}

// Columns: [task boxes, with their outside inputs above] [written dataset chips], then a gap.
function placeColumns(layers) {
  let x = DAG.pad;
  return layers.map((l) => {
    const tasks = l.filter((n) => !n.dummy);
    const taskW = Math.max(DAG.minTaskW / 2, ...tasks.map((n) => n.w),
      ...tasks.flatMap((n) => n.inputs.map((d) => chipWidth(d) + DAG.inputIndent)));
    const outW = Math.max(0, ...tasks.flatMap((n) => n.writes.map((d) => chipWidth(d))));
    const col = {left: x};
    col.taskX = x;
    col.chipX = col.taskX + taskW + DAG.boxToChip;
    col.right = outW ? col.chipX + outW : col.taskX + taskW;
    for (const n of l) {
      n.x = col.taskX;
      n.col = col;
    }
    x = col.right + DAG.colGap;
    return col;
  });
}

function layerHeight(l) {
  return l.reduce((s, n) => s + n.slot, 0) + Math.max(0, l.length - 1) * DAG.rowGap;
}

function chipWidth(name) {
  return textWidth(name, 11) + 14;
}

// A smooth left-to-right path through points (horizontal tangents at each point).
function flowPath(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const dx = Math.max(8, (x1 - x0) / 2);
    d += ` C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
  }
  return d;
}

function dagView(pipelineName, tasks, availableWidth) {
  if (!tasks.length) return el('p', {class: 'empty'}, 'This pipeline has no tasks.');
  const g = layoutDag(tasks);
  const root = svg('svg', {id: 'dag', class: 'dag', viewBox: `0 0 ${g.width} ${g.height}`, role: 'img',
    'aria-label': `task graph of ${pipelineName}`});
  // Wide graphs shrink to the panel down to 80% (text stays readable), then scroll sideways.
  const scale = Math.max(0.8, Math.min(1, (availableWidth || 1200) / g.width));
  root.setAttribute('width', Math.round(g.width * scale));
  root.setAttribute('height', Math.round(g.height * scale));
  root.append(svg('defs', {}, svg('marker', {id: 'arrow', viewBox: '0 0 8 8', refX: 7, refY: 4,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
  svg('path', {d: 'M0,0 L8,4 L0,8 z', class: 'arrow-head'}))));

  const edgeLayer = svg('g', {class: 'edges'});
  const nodeLayer = svg('g', {class: 'nodes'});
  root.append(edgeLayer, nodeLayer);
  const chipPos = new Map();  // "task/dataset" -> right-middle point of the chip

  for (const n of g.nodes) {
    if (n.dummy) continue;
    nodeLayer.append(dagTask(pipelineName, n));
    const cy = n.y + n.h / 2;
    let y = cy - n.chipsH / 2;
    for (const d of n.writes) {
      const w = chipWidth(d);
      const x = n.col.chipX;
      edgeLayer.append(svg('path', {class: 'edge write', d: `M${n.x + n.w},${y + DAG.chipH / 2} L${x},${y + DAG.chipH / 2}`}));
      nodeLayer.append(dagDataset(d, x, y, w, 'writes'));
      chipPos.set(`${n.id}/${d}`, [x + w, y + DAG.chipH / 2]);
      y += DAG.chipH + DAG.chipGap;
    }
    y = n.y - n.top;
    for (const d of n.inputs) {
      nodeLayer.append(dagDataset(d, n.x + DAG.inputIndent, y, chipWidth(d), 'reads'));
      y += DAG.chipH + DAG.chipGap;
    }
    if (n.inputs.length) {
      const x = n.x + DAG.inputIndent + 12;
      edgeLayer.append(svg('path', {class: 'edge', 'marker-end': 'url(#arrow)', d: `M${x},${y - DAG.chipGap} L${x},${n.y - 1}`}));
    }
  }

  // Edges enter a task spread over its left side, in the order of their sources' heights.
  const incoming = new Map();
  for (const e of g.edges) {
    const sources = e.datasets.length ? e.datasets.map((d) => ({e, d})) : [{e, d: null}];
    for (const s of sources) {
      if (!incoming.has(e.to)) incoming.set(e.to, []);
      incoming.get(e.to).push(s);
    }
  }
  for (const [to, list] of incoming) {
    const startOf = ({e, d}) => {
      if (d && chipPos.has(`${e.from.id}/${d}`)) return chipPos.get(`${e.from.id}/${d}`);
      // An edge without data (after:) leaves below the task's dataset boxes, not through them.
      const below = e.from.writes.length ? e.from.chipsH / 2 + 5 : 0;
      return [e.from.x + e.from.w, e.from.y + e.from.h / 2 + below];
    };
    list.sort((a, b) => startOf(a)[1] - startOf(b)[1]);
    const spread = list.length > 1 ? Math.min(8, (to.h - 12) / (list.length - 1)) : 0;
    list.forEach((item, i) => {
      const {e} = item;
      const start = startOf(item);
      const points = [start];
      if (!item.d && e.from.writes.length) points.push([e.from.col.right, start[1]]);
      for (const v of e.via) {
        const y = v.y + v.h / 2;
        points.push([v.col.left, y], [v.col.right, y]);
      }
      points.push([to.x - 1, to.y + to.h / 2 + (i - (list.length - 1) / 2) * spread]);
      const label = item.d ? `${e.from.id} → ${item.d} → ${to.id}` : `${e.from.id} → ${to.id}`;
      edgeLayer.append(svg('path', {class: 'edge', d: flowPath(points), 'marker-end': 'url(#arrow)',
        data: {from: e.from.id, to: to.id}}, svgTitle(label)));
    });
  }
  return root;
}

function dagTask(pipelineName, n) {
  const t = n.task;
  const latest = t.latest;
  const lines = [
    `${t.id} (${t.kind || 'task'})`,
    `latest: ${n.status}${latest && latest.run_key ? ` in run ${latest.run_key}` : ''}`,
    (t.upstream || []).length ? `upstream: ${t.upstream.join(', ')}` : null,
    (t.reads || []).length ? `reads: ${t.reads.join(', ')}` : null,
    (t.writes || []).length ? `writes: ${t.writes.join(', ')}` : null,
    t.pool ? `pool: ${t.pool}` : null,
    t.retries !== undefined && t.retries !== null ? `retries: ${t.retries}` : null,
    t.timeout_seconds ? `timeout: ${fmtDuration(t.timeout_seconds)}` : null,
  ].filter(Boolean);
  const box = [
    svgTitle(lines.join('\n')),
    svg('rect', {class: `box ${statusClass(n.status)}`, x: n.x, y: n.y, width: n.w, height: n.h, rx: 5}),
    svg('rect', {class: `accent ${statusClass(n.status)}`, x: n.x, y: n.y, width: 5, height: n.h, rx: 2}),
    svg('text', {class: 'task-id', x: n.x + 12, y: n.y + n.h / 2 - 3}, t.id),
    svg('text', {class: 'task-kind', x: n.x + 12, y: n.y + n.h / 2 + 12}, `${t.kind || ''} · ${n.status.replace(/_/g, ' ')}`),
  ];
  const body = latest && latest.run_id !== undefined && latest.run_id !== null
    ? svg('a', {href: urls.run(pipelineName, latest.run_id)}, box)
    : box;
  return svg('g', {class: 'task', data: {task: t.id, status: n.status}}, body);
}

function dagDataset(name, x, y, w, role) {
  return svg('g', {class: `dataset ${role}`, data: {dataset: name}},
    svg('a', {href: urls.dataset(name)},
      svgTitle(role === 'reads' ? `dataset ${name}, from outside this pipeline` : `dataset ${name}`),
      svg('rect', {x, y, width: w, height: DAG.chipH, rx: 9}),
      svg('text', {x: x + 7, y: y + DAG.chipH / 2 + 4}, name)));
}

// --- The grid: run keys × tasks

function gridView(pipelineName, data) {
  const tasks = data.tasks || [];
  const columns = data.columns || [];
  const cells = data.cells || [];
  if (!columns.length) return el('p', {class: 'empty', id: 'grid'}, 'No runs yet.');
  const cell = 16;
  const pitch = 20;
  const labelW = Math.min(260, Math.max(80, ...tasks.map((t) => textWidth(t, 12, {mono: true}))) + 16);
  const headH = Math.max(...columns.map((c) => textWidth(c.run_key || c.ds, 11, {mono: true}))) + 26;
  const width = labelW + columns.length * pitch + 8;
  const height = headH + tasks.length * pitch + 6;
  const root = svg('svg', {id: 'grid', class: 'grid', width, height, viewBox: `0 0 ${width} ${height}`});

  tasks.forEach((t, row) => {
    const y = headH + row * pitch;
    if (row % 2 === 0) root.append(svg('rect', {class: 'row-band', x: 0, y: y - 2, width, height: pitch}));
    root.append(svg('text', {class: 'row-label', x: labelW - 10, y: y + cell / 2 + 4, 'text-anchor': 'end'},
      svgTitle(t), t));
  });
  columns.forEach((c, col) => {
    const x = labelW + col * pitch;
    const key = c.run_key || c.ds;
    const href = urls.run(pipelineName, c.run_id);
    root.append(svg('a', {href, class: 'col', data: {runKey: key, status: statusOf(c.status)}},
      svgTitle(`run ${key}: ${statusOf(c.status)}`),
      svg('text', {class: 'col-label', transform: `translate(${x + cell / 2 + 4},${headH - 14}) rotate(-90)`}, key),
      svg('rect', {class: statusClass(c.status), x, y: headH - 10, width: cell, height: 6, rx: 1})));
    tasks.forEach((t, row) => {
      const c2 = (cells[col] || [])[row] || null;
      const status = statusOf(c2 && c2.status);
      const y = headH + row * pitch;
      // A cell opens its run with the task's attempt selected (docs/ui.md: "click a cell for
      // the attempt"); a task that did not run in it opens the run.
      const cellHref = c2 && c2.attempt_id !== undefined && c2.attempt_id !== null
        ? urls.attempt(pipelineName, c2.run_id ?? c.run_id, c2.attempt_id)
        : urls.run(pipelineName, (c2 && c2.run_id) ?? c.run_id);
      const attempts = c2 && c2.attempts !== undefined ? c2.attempts : 0;
      root.append(svg('a', {href: cellHref, class: 'cell', data: {task: t, runKey: key, status}},
        svgTitle(`${t}\nrun ${key}\n${status}\nattempts: ${attempts}`),
        svg('rect', {class: statusClass(status), x, y, width: cell, height: cell, rx: 3})));
    });
  });
  return root;
}

// --- Trend charts

function trendViews(pipelineName, points) {
  if (!points.length) return el('p', {class: 'empty'}, 'No finished runs yet.');
  return [
    trendChart(pipelineName, points, {metric: 'seconds', title: 'Run duration (seconds)', kind: 'bar', byStatus: true,
      format: (v) => fmtDuration(v)}),
    trendChart(pipelineName, points, {metric: 'rows_loaded', title: 'Rows loaded', kind: 'line',
      format: fmtInt}),
    trendChart(pipelineName, points, {metric: 'rows_rejected', title: 'Rows rejected', kind: 'bar',
      format: fmtInt}),
  ];
}

// The step of round axis ticks: 1, 2 or 5 times a power of ten.
function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function trendChart(pipelineName, points, {metric, title, kind, byStatus, format}) {
  const W = 400;
  const H = 180;
  const m = {left: 48, right: 10, top: 24, bottom: 30};
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const values = points.map((p) => (p[metric] === null || p[metric] === undefined ? null : Number(p[metric])));
  const max = Math.max(0, ...values.filter((v) => v !== null));
  const step = niceStep(max / 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const band = plotW / points.length;
  const xAt = (i) => m.left + band * (i + 0.5);
  const yAt = (v) => m.top + plotH - (v / top) * plotH;

  const root = svg('svg', {class: 'trend', data: {metric}, viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    role: 'img', 'aria-label': title});
  root.append(svg('text', {class: 'chart-title', x: m.left, y: 14}, title));
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = yAt(v);
    root.append(svg('line', {class: 'gridline', x1: m.left, x2: W - m.right, y1: y, y2: y}),
      svg('text', {class: 'tick', x: m.left - 6, y: y + 4, 'text-anchor': 'end'}, fmtCompact(v)));
  }
  root.append(svg('line', {class: 'axis', x1: m.left, x2: W - m.right, y1: m.top + plotH, y2: m.top + plotH}));
  // Run keys along the bottom: the first, the last, and between them as many as fit.
  const labelAt = (i) => {
    const text = points[i].run_key || points[i].ds || '';
    const w = textWidth(text, 10);
    if (i === 0) return {text, x: m.left, anchor: 'start', from: m.left, to: m.left + w};
    if (i === points.length - 1) return {text, x: W - m.right, anchor: 'end', from: W - m.right - w, to: W - m.right};
    return {text, x: xAt(i), anchor: 'middle', from: xAt(i) - w / 2, to: xAt(i) + w / 2};
  };
  const labels = [labelAt(0)];
  const last = points.length > 1 ? labelAt(points.length - 1) : null;
  const every = Math.max(1, Math.ceil(points.length / 5));
  for (let i = every; i < points.length - 1; i += every) {
    const l = labelAt(i);
    if (l.from > labels[labels.length - 1].to + 12 && (!last || l.to < last.from - 12)) labels.push(l);
  }
  if (last && last.from > labels[labels.length - 1].to + 8) labels.push(last);
  for (const l of labels) {
    root.append(svg('text', {class: 'tick', x: l.x, y: H - 10, 'text-anchor': l.anchor}, l.text));
  }

  if (kind === 'line') {
    const drawn = points.map((p, i) => (values[i] === null ? null : [xAt(i), yAt(values[i])])).filter(Boolean);
    if (drawn.length) {
      root.append(svg('path', {class: 'trend-line', d: 'M' + drawn.map(([x, y]) => `${x},${y}`).join(' L')}));
    }
  }
  points.forEach((p, i) => {
    const v = values[i];
    const key = p.run_key || p.ds;
    const label = `${key}: ${v === null ? 'no value' : format(v)} (${statusOf(p.status)})`;
    const marks = [svgTitle(label),
      // The whole band answers to hover and click, not only the thin bar.
      svg('rect', {class: 'hit', x: m.left + band * i, y: m.top, width: band, height: plotH})];
    if (v !== null && kind === 'bar') {
      const bw = Math.min(24, Math.max(1, band * 0.7));
      marks.push(svg('rect', {class: byStatus ? `bar ${statusClass(p.status)}` : `bar metric-${metric}`,
        x: xAt(i) - bw / 2, y: yAt(v), width: bw, height: Math.max(v > 0 ? 1 : 0, m.top + plotH - yAt(v))}));
    } else if (v !== null) {
      marks.push(svg('circle', {class: `dot ${statusClass(p.status)}`, cx: xAt(i), cy: yAt(v), r: points.length > 45 ? 2 : 3}));
    }
    root.append(svg('a', {href: urls.run(pipelineName, p.run_id), class: 'point', data: {runKey: key}}, marks));
  });
  return el('div', {class: 'chart'}, root);
}

// ---------------------------------------------------------------------------------------------
// Page: /pipelines/NAME/runs/RUN[/attempts/ID]

async function renderRunPage(ctx, params) {
  const {name, run} = params;
  const base = `/pipelines/${enc(name)}`;
  ctx.setTitle(`${name} run ${run}`);
  const view = {
    data: null,
    selected: params.attempt || null,  // the attempt whose log is shown
    auto: !params.attempt,             // chosen by us, not by the URL
    logToken: 0,
    logBadge: null,
    crumbs: el('div'),
    head: el('div', {class: 'run-head'}),
    gantt: el('div', {class: 'gantt-wrap'}),
    attempts: el('div', {class: 'table-wrap'}),
    log: el('div', {class: 'log-panel'}),
  };
  ctx.main.append(view.crumbs, view.head,
    section('Attempts over time', view.gantt),
    section('Attempts', view.attempts),
    section('Log', view.log));
  ctx.onStop.push(() => { view.logToken++; });

  const renderAll = () => {
    const d = view.data;
    ctx.show(view.crumbs, [name, d.run], ([n, r]) =>
      crumbs(['Pipelines', urls.pipelines()], [n, urls.pipeline(n)], [`run ${r.run_key || r.ds || r.run_id}`]));
    ctx.show(view.head, d.run, (r) => runHead(ctx, name, r, d.tasks || []));
    // The Gantt moves with the clock while something runs.
    const running = isRunning(d);
    ctx.show(view.gantt, {d, now: running ? Date.now() : 0},
      () => ganttView(name, d, view.gantt.clientWidth));
    ctx.show(view.attempts, d.attempts, () => attemptsTable(name, d));
    markSelected();
    updateLogBadge(view);
  };

  // Selecting an attempt only moves the highlight: rows and bars stay the same elements.
  const markSelected = () => {
    for (const node of ctx.main.querySelectorAll('#attempts tr[data-attempt-id], #gantt rect.bar')) {
      node.classList.toggle('selected', node.dataset.attemptId === String(view.selected));
    }
  };

  // Without an attempt in the URL, show the log most worth reading: a running attempt, else
  // the last one that failed (or was cancelled).
  const autoSelect = () => {
    if (!view.auto) return;
    const attempts = view.data.attempts || [];
    const pick = attempts.find((a) => a.status === 'running')
      || [...attempts].reverse().find((a) => ['failed', 'timed_out', 'cancelled'].includes(a.status));
    if (pick && String(pick.attempt_id) !== String(view.selected)) view.selected = String(pick.attempt_id);
  };

  let logShownFor;  // undefined: nothing shown yet, not even the hint
  const syncLog = async () => {
    if (view.selected === logShownFor) return;
    logShownFor = view.selected;
    await showLog(ctx, view, name, base);
  };

  ctx.onParams = (p) => ctx.load(async () => {
    view.selected = p.attempt || null;
    view.auto = !p.attempt;
    if (view.data) {
      autoSelect();
      renderAll();
    }
    await syncLog();
  });

  await ctx.start(async () => {
    view.data = await ctx.api(`${base}/runs/${enc(run)}`);
    ctx.setTitle(`${name} run ${view.data.run.run_key || run}`);
    autoSelect();
    renderAll();
    await syncLog();
  }, POLL_MS, () => view.data && isRunning(view.data));
}

// The status beside the log's title follows the polls of the run.
function updateLogBadge(view) {
  if (!view.logBadge) return;
  const a = ((view.data && view.data.attempts) || []).find((x) => String(x.attempt_id) === String(view.selected));
  const status = a ? statusOf(a.status) : '';
  if (view.logBadge.dataset.status === status) return;
  view.logBadge.dataset.status = status;
  view.logBadge.replaceChildren(...(a ? [badge(a.status)] : []));
}

function isRunning(d) {
  return d.run.status === 'running' || (d.attempts || []).some((a) => a.status === 'running');
}

function runHead(ctx, name, r, tasks) {
  const actions = el('div', {class: 'actions'},
    r.status === 'running'
      ? el('button', {type: 'button', id: 'action-cancel', class: 'danger', onclick: () => cancelDialog(ctx, name, r)}, 'Cancel run…')
      : null,
    el('button', {type: 'button', id: 'action-clear', onclick: () => clearDialog(ctx, name, r, tasks)}, 'Clear tasks…'));
  return [
    el('div', {class: 'title-row'},
      el('h1', {}, 'Run ', el('span', {class: 'mono'}, r.run_key || r.ds)),
      badge(r.status),
      r.interrupted ? el('span', {class: 'badge interrupted', title: 'its process died before it ended'}, 'interrupted') : null,
      el('span', {class: 'spacer'}),
      actions),
    el('div', {id: 'run-summary'}, facts([
      ['Status', r.status],
      ['Run key', el('span', {class: 'mono'}, r.run_key || '—')],
      ['Logical date', r.ds],
      ['Data interval', `${fmtWall(r.interval_start)} → ${fmtWall(r.interval_end)}`],
      ['Trigger', r.trigger],
      ['Started', fmtTime(r.started_at)],
      ['Ended', r.ended_at ? fmtTime(r.ended_at) : r.status === 'running' ? 'running' : '—'],
      ['Duration', fmtDuration(elapsedSeconds(r))],
      ['Run id', String(r.run_id)],
      r.error ? ['Error', el('pre', {class: 'error-block', id: 'run-error'}, r.error)] : null,
    ])),
  ];
}

function cancelDialog(ctx, name, r) {
  openConfirm({
    title: `Cancel run ${r.run_key || r.ds}`,
    intro: 'Its process gets SIGTERM: running tasks stop cleanly, and the run ends cancelled. The scheduler starts it again later, resuming.',
    okLabel: 'Cancel the run',
    cancelLabel: 'Keep it running',
    ok: async () => {
      const res = await api(`/pipelines/${enc(name)}/runs/${enc(r.run_id)}/cancel`, {method: 'POST', body: {}});
      return `Cancelling run ${r.run_key || r.ds}` + (res && res.pid ? ` (process ${res.pid} got SIGTERM).` : '.');
    },
    done: () => ctx.refresh(),
  });
}

function clearDialog(ctx, name, r, tasks) {
  const path = `/pipelines/${enc(name)}/clear`;
  const body = (v, dryRun) => ({
    date: v.date,
    tasks: v.task ? [v.task] : undefined,
    downstream: v.task ? v.downstream : undefined,
    dry_run: dryRun || undefined,
  });
  openConfirm({
    title: `Clear tasks of ${name}`,
    intro: 'Marks the successes of the tasks as cleared, so they run again; the date\'s finished runs become cleared, so the scheduler runs them again.',
    fields: [
      field('Date or run key', el('input', {name: 'date', type: 'text', value: r.run_key || r.ds || '', autocomplete: 'off'})),
      field('Task', taskSelect(tasks)),
      field('and the tasks downstream of it', el('input', {name: 'downstream', type: 'checkbox', checked: true})),
    ],
    preview: async (v) => {
      if (!v.date) throw new Error('Give a date or run key.');
      const res = await api(path, {method: 'POST', body: body(v, true)});
      const t = res.tasks || [];
      const d = res.dates || [];
      return [
        el('p', {}, `Resets ${t.length} task${t.length === 1 ? '' : 's'} for ${d.length} date${d.length === 1 ? '' : 's'}:`),
        facts([
          ['Tasks', el('ul', {class: 'keys', id: 'confirm-tasks'}, t.map((x) => el('li', {class: 'mono'}, x)))],
          ['Dates', el('ul', {class: 'keys', id: 'confirm-dates'}, d.map((x) => el('li', {class: 'mono'}, x)))],
        ]),
      ];
    },
    okLabel: 'Clear',
    ok: async (v) => {
      const res = await api(path, {method: 'POST', body: body(v, false)});
      const n = res && res.cleared !== undefined ? res.cleared : 0;
      return `Cleared ${n} task state${n === 1 ? '' : 's'} of ${name}; they run again at the next run of the date.`;
    },
    done: () => ctx.refresh(),
  });
}

// --- Gantt chart

// Ticks at round clock steps, at most one per ~90 px.
const TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

function ganttView(pipelineName, d, availableWidth) {
  const attempts = d.attempts || [];
  const taskIds = [...(d.tasks || [])];
  for (const a of attempts) if (!taskIds.includes(a.task_id)) taskIds.push(a.task_id);
  if (!taskIds.length) return el('p', {class: 'empty', id: 'gantt'}, 'No tasks in this run.');
  const now = Date.now();
  const startOf = (x) => Date.parse(x.started_at);
  const endOf = (x) => (x.ended_at ? Date.parse(x.ended_at) : now);
  const times = [];
  for (const a of attempts) if (a.started_at) times.push(startOf(a), endOf(a));
  if (d.run.started_at) times.push(startOf(d.run), endOf(d.run));
  const valid = times.filter(Number.isFinite);
  let t0 = valid.length ? Math.min(...valid) : now;
  let t1 = valid.length ? Math.max(...valid) : now;
  if (t1 - t0 < 1000) t1 = t0 + 1000;

  const rowH = 22;
  const labelW = Math.min(240, Math.max(80, ...taskIds.map((t) => textWidth(t, 12, {mono: true}))) + 16);
  const axisH = 22;
  const W = Math.max(600, Math.min(availableWidth || 1100, 1600));
  const plotW = W - labelW - 16;
  const H = axisH + taskIds.length * rowH + 6;
  const xAt = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;

  const root = svg('svg', {id: 'gantt', class: 'gantt', width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  taskIds.forEach((t, row) => {
    const y = axisH + row * rowH;
    if (row % 2 === 0) root.append(svg('rect', {class: 'row-band', x: 0, y, width: W, height: rowH}));
    root.append(svg('text', {class: 'row-label', x: labelW - 10, y: y + rowH / 2 + 4, 'text-anchor': 'end'}, t));
  });
  const spanS = (t1 - t0) / 1000;
  const step = TIME_STEPS.find((s) => spanS / s <= plotW / 90) || 86400;
  // Count ticks in integer milliseconds: adding 0.1 s steps as floats drifts.
  const stepMs = Math.round(step * 1000);
  for (let ms = Math.ceil(t0 / stepMs) * stepMs; ms <= t1; ms += stepMs) {
    const x = xAt(ms);
    const date = new Date(ms);
    let label = `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
    if (step < 60) label += ':' + pad2(date.getSeconds());
    if (step < 1) label += '.' + String(date.getMilliseconds()).padStart(3, '0').slice(0, 1);
    root.append(svg('line', {class: 'gridline', x1: x, x2: x, y1: axisH - 4, y2: H}),
      svg('text', {class: 'tick', x, y: 12, 'text-anchor': 'middle'}, label));
  }
  for (const a of attempts) {
    const row = taskIds.indexOf(a.task_id);
    if (row < 0 || !a.started_at) continue;
    const x0 = xAt(startOf(a));
    const x1 = Math.max(x0 + 3, xAt(endOf(a)));
    const y = axisH + row * rowH + 4;
    const status = statusOf(a.status);
    const tip = [
      `${a.task_id}, attempt ${a.attempt}: ${status}`,
      `${fmtTime(a.started_at)} → ${a.ended_at ? fmtTime(a.ended_at) : 'running'} (${fmtDuration(elapsedSeconds(a))})`,
      a.error ? `error: ${a.error}` : null,
    ].filter(Boolean).join('\n');
    const parts = [svgTitle(tip),
      svg('rect', {class: `bar ${statusClass(status)}`, x: x0, y,
        width: x1 - x0, height: rowH - 8, rx: 2,
        data: {task: a.task_id, attempt: a.attempt, attemptId: a.attempt_id, status}})];
    // Retries are separate bars; a number on each tells them apart when they touch.
    if (x1 - x0 > 22) {
      parts.push(svg('text', {class: 'bar-label', x: x0 + 4, y: y + (rowH - 8) / 2 + 1}, `#${a.attempt}`));
    }
    root.append(svg('a', {href: urls.attempt(pipelineName, d.run.run_id, a.attempt_id)}, parts));
  }
  if (isRunning(d)) {
    const x = xAt(now);
    root.append(svg('line', {class: 'now', x1: x, x2: x, y1: axisH - 4, y2: H}));
  }
  return root;
}

// --- Attempts table

function attemptsTable(pipelineName, d) {
  const attempts = d.attempts || [];
  if (!attempts.length) return el('p', {class: 'empty', id: 'attempts'}, 'No attempts yet.');
  const order = new Map((d.tasks || []).map((t, i) => [t, i]));
  const sorted = [...attempts].sort((a, b) =>
    (order.get(a.task_id) ?? 1e9) - (order.get(b.task_id) ?? 1e9) || a.attempt - b.attempt);
  const rows = sorted.map((a) => {
    const href = urls.attempt(pipelineName, d.run.run_id, a.attempt_id);
    const tr = el('tr', {
      class: 'clickable',
      data: {attemptId: a.attempt_id, task: a.task_id, status: statusOf(a.status)},
    },
    td(el('a', {href, class: 'mono'}, a.task_id)),
    num(String(a.attempt)),
    td(badge(a.status)),
    td(fmtTime(a.started_at), 'nowrap'),
    num(fmtDuration(elapsedSeconds(a))),
    num(fmtInt(a.rows_read)),
    num(fmtInt(a.rows_loaded)),
    num(fmtInt(a.rows_rejected)),
    num(fmtBytes(a.bytes)),
    td(errorText(a.error), 'error-cell'));
    // The whole row selects the attempt; the link in it stays a real link.
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a') || window.getSelection().toString()) return;
      navigate(href);
    });
    return tr;
  });
  return table({id: 'attempts'},
    ['Task', {label: 'Attempt', class: 'num'}, 'Status', 'Started', {label: 'Duration', class: 'num'},
      {label: 'Rows read', class: 'num'}, {label: 'Loaded', class: 'num'}, {label: 'Rejected', class: 'num'},
      {label: 'Bytes', class: 'num'}, 'Error'], rows);
}

// --- Log panel

// Shows the selected attempt's log and follows it while it runs: each answer gives
// next_offset, the next request asks from there. Resolves after the first part is shown.
async function showLog(ctx, view, pipelineName, base) {
  const token = ++view.logToken;
  const live = () => ctx.alive && view.logToken === token;
  const id = view.selected;
  if (!id) {
    view.log.replaceChildren(el('p', {class: 'empty'}, 'Select an attempt (a bar or a row) to see its log.'));
    return;
  }
  const attempt = ((view.data && view.data.attempts) || []).find((a) => String(a.attempt_id) === String(id));
  const state = el('span', {class: 'log-state muted'}, 'loading…');
  view.logBadge = el('span', {class: 'log-badge'});
  updateLogBadge(view);
  const pre = el('pre', {id: 'log', class: 'log', tabindex: 0});
  view.log.replaceChildren(
    el('div', {class: 'log-head'},
      el('strong', {}, attempt ? `${attempt.task_id}, attempt ${attempt.attempt}` : `attempt ${id}`),
      view.logBadge,
      state,
      el('span', {class: 'spacer'}),
      el('a', {id: 'log-download', href: urls.logText(pipelineName, id), download: `${pipelineName}-attempt-${id}.log`}, 'Download log')),
    pre);

  let offset = 0;
  let first = true;       // nothing shown yet
  let tailChecked = false;
  let resolveFirst;
  const firstShown = new Promise((resolve) => { resolveFirst = resolve; });
  (async () => {
    try {
      for (;;) {
        const r = await ctx.api(`${base}/attempts/${enc(id)}/log?offset=${offset}&max=${LOG_CHUNK}`);
        if (!live()) return;
        if (!tailChecked && r.size - (r.offset || 0) > LOG_TAIL) {
          // A long log: show its tail, the download link has the whole of it.
          tailChecked = true;
          offset = r.size - LOG_TAIL;
          pre.append(el('span', {class: 'log-note'}, `… the first ${fmtBytes(offset)} are in the download …\n`));
          continue;
        }
        tailChecked = true;
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
        if (r.text) pre.append(document.createTextNode(r.text));
        if (atBottom) pre.scrollTop = pre.scrollHeight;
        const next = Number(r.next_offset);
        const advanced = next > offset;
        offset = Number.isFinite(next) ? next : offset;
        if (first) {
          first = false;
          resolveFirst();
        }
        if (advanced && offset < r.size) continue;  // catch up without waiting
        if (!r.running) {
          state.textContent = `${fmtBytes(r.size)}`;
          if (!pre.textContent) pre.append(el('span', {class: 'log-note'}, '(the log is empty)'));
          return;
        }
        state.textContent = 'following…';
        await sleep(LOG_POLL_MS);
        if (!live()) return;
      }
    } catch (e) {
      if (!live() || isQuiet(e)) return;
      state.textContent = '';
      pre.append(el('span', {class: 'log-note error'}, `cannot read the log: ${e.message}`));
    } finally {
      resolveFirst();
    }
  })();
  await firstShown;
}

// ---------------------------------------------------------------------------------------------
// Page: /datasets

async function renderDatasetsPage(ctx) {
  ctx.setTitle('Datasets');
  const list = el('div', {class: 'table-wrap'});
  ctx.main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Datasets')), list);
  await ctx.start(async () => {
    const data = await ctx.api('/datasets');
    ctx.show(list, data.datasets || [], datasetsTable);
  });
}

function datasetsTable(datasets) {
  if (!datasets.length) return el('p', {class: 'empty', id: 'datasets'}, 'No datasets yet: a task publishes one when it first succeeds.');
  const zones = new Map();
  for (const d of datasets) {
    const zone = d.zone || datasetFullName(d).split('.')[0];
    if (!zones.has(zone)) zones.set(zone, []);
    zones.get(zone).push(d);
  }
  // Datasets of one name in several lakes link with the pipeline that picks the lake.
  const counts = new Map();
  for (const d of datasets) counts.set(datasetFullName(d), (counts.get(datasetFullName(d)) || 0) + 1);
  const rows = [];
  for (const zone of [...zones.keys()].sort()) {
    rows.push(el('tr', {class: 'group', data: {zone}}, el('th', {colspan: 8}, zone)));
    const list = zones.get(zone).sort((a, b) => datasetFullName(a).localeCompare(datasetFullName(b)));
    for (const d of list) {
      const full = datasetFullName(d);
      const pipeline = counts.get(full) > 1 ? (d.pipelines || [])[0] : undefined;
      const latest = d.latest || {};
      rows.push(el('tr', {data: {dataset: full}},
        td([el('a', {href: urls.dataset(full, {pipeline}), class: 'strong mono'}, full),
          counts.get(full) > 1 ? el('div', {class: 'muted small mono'}, d.lake) : null]),
        num(fmtInt(d.partitions)),
        td(latest.ds || '—', 'mono'),
        num(fmtInt(latest.rows)),
        num(fmtBytes(latest.bytes)),
        td(fmtTime(latest.created_at, false), 'nowrap'),
        td(producerLink(d.producer)),
        td((d.pipelines || []).map((p, i) => [i ? ', ' : '', el('a', {href: urls.pipeline(p)}, p)]))));
    }
  }
  return table({id: 'datasets'},
    ['Dataset', {label: 'Partitions', class: 'num'}, 'Latest ds', {label: 'Rows', class: 'num'},
      {label: 'Size', class: 'num'}, 'Published', 'Producer', 'Pipelines'], rows);
}

function producerLink(producer) {
  if (!producer) return muted('—');
  return [el('a', {href: urls.pipeline(producer.pipeline)}, producer.pipeline), muted(' / '),
    el('span', {class: 'mono'}, producer.task)];
}

// ---------------------------------------------------------------------------------------------
// Page: /datasets/ZONE.NAME[?pipeline=P][&ds=D]

async function renderDatasetPage(ctx, params) {
  const full = params.dataset;
  const pipeline = params.pipeline || undefined;
  ctx.setTitle(full);
  const q = (extra = {}) => withQuery('', {pipeline, ...extra});
  const base = `/datasets/${enc(full)}`;
  const view = {data: null, ds: params.ds || null,
    head: el('div'), partitions: el('div', {class: 'table-wrap'}), schema: el('div', {class: 'table-wrap'}),
    preview: el('div', {class: 'table-wrap'}), rejects: el('div', {class: 'table-wrap'}),
    previewTitle: el('div', {class: 'panel-tools'})};
  const rejectsPanel = section('Rejected rows', view.rejects);
  ctx.main.append(
    crumbs(['Datasets', urls.datasets()], [full]),
    view.head,
    section('Partitions', view.partitions),
    el('div', {class: 'two-col'}, section('Schema', view.schema), section('Preview', view.previewTitle, view.preview)),
    rejectsPanel);

  // The preview and the rejects follow the selected partition (?ds=, default the latest).
  const loadPartition = async () => {
    const d = view.data;
    const ds = view.ds || (d.partitions && d.partitions[0] && d.partitions[0].ds) || '';
    ctx.show(view.partitions, {p: d.partitions || [], ds}, () => partitionsTable(full, pipeline, d, ds));
    ctx.show(view.previewTitle, {ds, parts: (d.partitions || []).map((p) => p.ds)}, () =>
      partitionPicker(full, pipeline, ds, d.partitions || []));
    const hasRejects = Boolean(d.rejects || d.rejects_of);
    rejectsPanel.hidden = !hasRejects;
    const [preview, rejects] = await Promise.allSettled([
      ds ? ctx.api(`${base}/preview${q({ds, limit: PREVIEW_ROWS})}`) : Promise.resolve(null),
      hasRejects && ds ? ctx.api(`${base}/rejects${q({ds})}`) : Promise.resolve(null),
    ]);
    if (preview.status === 'fulfilled') ctx.show(view.preview, preview.value, previewTable);
    else ctx.show(view.preview, {error: preview.reason.message}, (e) => el('p', {class: 'error-text', id: 'preview'}, e.error));
    if (rejects.status === 'fulfilled' && rejects.value) ctx.show(view.rejects, rejects.value, (r) => rejectsTable(r, d));
    else if (rejects.status === 'rejected') throw rejects.reason;
    if (preview.status === 'rejected' && !isQuiet(preview.reason) && preview.reason.status !== 404) throw preview.reason;
  };

  ctx.onParams = (p) => {
    view.ds = p.ds || null;
    return ctx.load(loadPartition);
  };

  await ctx.start(async () => {
    view.data = await ctx.api(base + q());
    const d = view.data;
    ctx.show(view.head, d, (x) => datasetHead(full, x));
    ctx.show(view.schema, d.schema || [], schemaTable);
    await loadPartition();
  });
}

function datasetHead(full, d) {
  return [
    el('div', {class: 'title-row'}, el('h1', {class: 'mono'}, full)),
    el('div', {class: 'meta-row'},
      el('span', {class: 'meta'}, el('span', {class: 'meta-key'}, 'Lake'), ' ', el('span', {class: 'mono'}, d.lake || '—')),
      el('span', {class: 'meta'}, el('span', {class: 'meta-key'}, 'Producer'), ' ', producerLink(d.producer)),
      d.rejects ? el('span', {class: 'meta'}, el('span', {class: 'meta-key'}, 'Rejected rows in'), ' ',
        el('a', {href: urls.dataset(d.rejects), id: 'rejects-link', class: 'mono'}, d.rejects)) : null,
      d.rejects_of ? el('span', {class: 'meta'}, el('span', {class: 'meta-key'}, 'Rejected rows of'), ' ',
        el('a', {href: urls.dataset(d.rejects_of), id: 'rejects-of-link', class: 'mono'}, d.rejects_of)) : null),
  ];
}

function partitionsTable(full, pipeline, d, selectedDs) {
  const parts = d.partitions || [];
  if (!parts.length) return el('p', {class: 'empty', id: 'partitions'}, 'No published partitions.');
  const producer = d.producer && d.producer.pipeline;
  const rows = parts.map((p) => {
    const files = p.files || [];
    const fileList = files.map((f) => `${f.name}  ${fmtBytes(f.bytes)}  crc32c ${f.crc32c}`).join('\n');
    return el('tr', {data: {ds: p.ds}, class: p.ds === selectedDs ? 'selected' : null},
      td(el('a', {href: urls.dataset(full, {pipeline, ds: p.ds}), class: 'mono', title: 'preview this partition'}, p.ds)),
      num(fmtInt(p.rows)),
      num(fmtBytes(p.bytes)),
      num(el('span', {title: fileList}, String(files.length))),
      td(el('span', {class: 'mono checksum', title: String(p.checksum ?? '')}, String(p.checksum ?? '—'))),
      td(producer && p.run_id !== undefined && p.run_id !== null
        ? el('a', {href: p.attempt_id ? urls.attempt(producer, p.run_id, p.attempt_id) : urls.run(producer, p.run_id)}, `run ${p.run_id}`)
        : muted(p.run_id ? `run ${p.run_id}` : '—')),
      td(p.task_id || '—', 'mono'),
      td(fmtTime(p.created_at), 'nowrap'));
  });
  return table({id: 'partitions'},
    ['ds', {label: 'Rows', class: 'num'}, {label: 'Size', class: 'num'}, {label: 'Files', class: 'num'},
      'Checksum', 'Run', 'Task', 'Published'], rows);
}

function schemaTable(schema) {
  if (!schema.length) return el('p', {class: 'empty', id: 'schema'}, 'No schema (no partition yet).');
  return table({id: 'schema'}, ['Column', 'Type'],
    schema.map((c) => el('tr', {data: {column: c.name}}, td(c.name, 'mono'), td(c.type, 'mono muted'))));
}

function partitionPicker(full, pipeline, ds, partitions) {
  if (!partitions.length) return null;
  const select = el('select', {name: 'ds', 'aria-label': 'partition to preview',
    onchange: () => navigate(urls.dataset(full, {pipeline, ds: select.value}))},
  partitions.map((p) => el('option', {value: p.ds, selected: p.ds === ds}, p.ds)));
  return el('label', {class: 'inline'}, 'Partition ', select, muted(` first ${PREVIEW_ROWS} rows`));
}

function previewTable(p) {
  if (!p) return el('p', {class: 'empty', id: 'preview'}, 'No partition to preview.');
  const columns = p.columns || [];
  const rows = (p.rows || []).map((r) => el('tr', {},
    r.map((v) => (v === null ? td('null', 'null') : td(String(v))))));
  return el('div', {class: 'preview-scroll'},
    el('table', {class: 'data preview', id: 'preview', data: {ds: p.ds}},
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', {title: c.type}, c.name)))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', {colspan: columns.length || 1, class: 'muted'}, 'No rows.')))));
}

function rejectsTable(r, d) {
  const reasons = r.reasons || [];
  const intro = el('p', {class: 'rejects-total'},
    `${fmtInt(r.total)} row${Number(r.total) === 1 ? '' : 's'} rejected in ds ${r.ds}`,
    d.rejects ? ['; every one is in ', el('a', {href: urls.dataset(d.rejects, {ds: r.ds})}, d.rejects)] : null,
    '.');
  if (!reasons.length) return [intro, el('div', {id: 'rejects'})];
  // docs/ui.md names the group `reason`; the server may call it `error_type`.
  const reasonOf = (x) => String(x.reason ?? x.error_type ?? '');
  const rows = reasons.map((x) => el('tr', {data: {reason: reasonOf(x)}},
    td(reasonOf(x), 'reason'),
    td(x.column || '—', 'mono'),
    num(fmtInt(x.count)),
    td(el('ul', {class: 'examples'}, (x.examples || []).map((ex) =>
      el('li', {},
        el('div', {class: 'muted small mono'},
          `${ex.file ? ex.file + ':' : 'line '}${ex.line ?? '?'} (byte ${ex.byte_offset ?? '?'})`,
          ex.reason && ex.reason !== reasonOf(x) ? `: ${ex.reason}` : ''),
        el('code', {class: 'raw'}, String(ex.raw ?? '')))))),
  ));
  return [intro, table({id: 'rejects'}, ['Reason', 'Column', {label: 'Rows', class: 'num'}, 'Examples (raw lines)'], rows)];
}

// ---------------------------------------------------------------------------------------------
// Page: /login

async function renderLoginPage(ctx, params) {
  ctx.setTitle('Sign in');
  const next = safeNext(params.next);
  if (session && (!session.token_required || session.signed_in)) {
    navigate(next, {replace: true});
    return;
  }
  const input = el('input', {name: 'token', type: 'password', autocomplete: 'current-password', required: true, id: 'token'});
  const button = el('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = el('form', {id: 'login', class: 'login'},
    el('h1', {}, 'Sign in to sluice'),
    el('p', {class: 'muted'}, 'This sluice server asks for its access token (the one in its --token-file).'),
    el('label', {class: 'field', for: 'token'}, el('span', {class: 'field-label'}, 'Token'), input),
    button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    try {
      await api('/login', {method: 'POST', body: {token: input.value}, login: true});
      session = {...session, signed_in: true};
      showError('');
      navigate(next, {replace: true});
    } catch (err) {
      showError(err.status === 401 ? 'Wrong token.' : err.message);
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  ctx.main.append(form);
  input.focus();
  ctx.ready(true);
}

function renderNotFoundPage(ctx) {
  ctx.setTitle('Not found');
  ctx.main.append(el('h1', {}, 'No such page'),
    el('p', {}, el('a', {href: '/'}, 'Back to the pipelines')));
  ctx.ready(true);
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  document.addEventListener('click', interceptLinks);
  window.addEventListener('popstate', () => route());
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const note = document.getElementById('clock-note');
  if (note && zone) note.textContent = `times in ${zone}`;
  route();
}

start();
