'use strict';
// Mneme web page: plain DOM, no build step. Talks to the /v1 API of the server that serves it.

const $ = (id) => document.getElementById(id);

// ---- API access -------------------------------------------------------------------------------

const tokenInput = $('token');
tokenInput.value = localStorage.getItem('mneme.token') || '';
tokenInput.addEventListener('change', () => {
  const token = tokenInput.value.trim();
  if (token) localStorage.setItem('mneme.token', token); else localStorage.removeItem('mneme.token');
});

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** Calls the API; writes carry the bearer token. Non-2xx answers throw an ApiError from {"error":{code,message}}. */
async function api(method, path, { body, write = false } = {}) {
  const headers = {};
  const token = tokenInput.value.trim();
  if (write && token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined && !(body instanceof FormData)) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (error) {
    throw new ApiError(0, 'network_error', `cannot reach the server (${error.message}); a body over the server's size limit also ends like this`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || 'http_' + response.status, error.message || text || response.statusText);
  }
  return data;
}

/** A write with a body, sent with XMLHttpRequest so that `onProgress(sent, total)` can follow the upload. */
function upload(path, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    const token = tokenInput.value.trim();
    if (token) request.setRequestHeader('Authorization', 'Bearer ' + token);
    request.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded, event.total); };
    request.onerror = () => reject(new ApiError(0, 'network_error', "cannot reach the server; a body over the server's size limit also ends like this"));
    request.onload = () => {
      let data = null;
      try { data = request.responseText ? JSON.parse(request.responseText) : null; } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) { resolve(data); return; }
      const error = (data && data.error) || {};
      reject(new ApiError(request.status, error.code || 'http_' + request.status, error.message || request.responseText || request.statusText));
    };
    request.send(body);
  });
}

const describeError = (error) => error instanceof ApiError
  ? `${error.message} (${error.status ? 'HTTP ' + error.status + ', ' : ''}${error.code})`
  : String((error && error.message) || error);

function showError(id, error) { $(id).textContent = error ? describeError(error) : ''; }

/** Runs an async action from a form or button: clears and shows errors, disables the button meanwhile. */
async function run(button, errorId, action) {
  showError(errorId, null);
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { await action(); return true; } catch (error) { showError(errorId, error); return false; } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ---- Small DOM and formatting helpers ---------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const percent = (value) => (value === undefined || value === null ? '–' : (value * 100).toFixed(1) + '%');
const shortTime = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
function duration(seconds) {
  if (seconds === undefined || seconds === null) return '–';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function resultList(result, latency) {
  const rows = [['Answer', h('strong', { class: 'answer' }, result.answer || '(empty)')], ['Task', result.task],
    [h('abbr', { title: "How much the task selector preferred this task over the next one (0–1); not a confidence in the answer" }, 'Routing margin'),
      result.task_confidence.toFixed(3)], ['Snapshot', h('code', {}, result.snapshot)]];
  if (latency !== undefined) rows.push(['Latency', `${Math.round(latency)} ms`]);
  if (result.query_id) rows.push(['Was it right?', feedbackButtons(result)]);
  return rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]);
}

/** Right / Wrong for one answer: stored with the query's image, so a correction becomes a labelled item. */
function feedbackButtons(result) {
  const status = h('span', { class: 'small hint', 'aria-live': 'polite' });
  const send = async (button, correct) => {
    let answer;
    if (!correct) {
      answer = window.prompt(`What is the right answer to "${result.answer}"? (leave empty if you do not know)`, '');
      if (answer === null) return;
    }
    const body = { query_id: result.query_id, correct };
    if (answer && answer.trim()) body.answer = answer.trim();
    status.textContent = '';
    try {
      const stored = await api('POST', '/v1/feedback', { body, write: true });
      status.textContent = stored.correct ? ' Thanks: marked right.' : ` Thanks: marked wrong${stored.correction ? `, should be “${stored.correction}”` : ''}.`;
      for (const other of box.querySelectorAll('button')) other.disabled = true;
      refreshSnapshots();
    } catch (error) { status.textContent = ' ' + describeError(error); status.className = 'small error'; }
  };
  const box = h('span', { class: 'feedback' },
    h('button', { type: 'button', class: 'small', 'aria-label': `Answer ${result.query_id} was right`, onclick: (event) => send(event.currentTarget, true) }, 'Right'), ' ',
    h('button', { type: 'button', class: 'small secondary', 'aria-label': `Answer ${result.query_id} was wrong`, onclick: (event) => send(event.currentTarget, false) }, 'Wrong…'),
    status);
  return box;
}

/** A snapshot's online accuracy over all its tasks: right of judged, with the 95% interval of the pooled share. */
function onlineSummary(online) {
  const cells = Object.values(online || {});
  const judged = cells.reduce((sum, cell) => sum + cell.feedback, 0);
  const right = cells.reduce((sum, cell) => sum + cell.correct, 0);
  const answers = cells.reduce((sum, cell) => sum + cell.answers, 0);
  if (!judged) return h('span', { class: 'hint' }, answers ? `${answers} answers, none judged` : '–');
  const detail = Object.entries(online).filter(([, cell]) => cell.feedback)
    .map(([task, cell]) => `${task}: ${cell.correct}/${cell.feedback} right (95%: ${percent(cell.low)}–${percent(cell.high)})`).join('\n');
  return h('span', { title: detail }, `${right}/${judged} right`, h('div', { class: 'small hint' }, `${answers} answer${answers === 1 ? '' : 's'}`));
}

// ---- Ask and compare -------------------------------------------------------------------------

const askImage = $('ask-image');
const preview = $('ask-preview');
function showPreview() {
  if (preview.src) URL.revokeObjectURL(preview.src);
  const file = askImage.files[0];
  preview.hidden = !file;
  if (file) preview.src = URL.createObjectURL(file); else preview.removeAttribute('src');
}
askImage.addEventListener('change', showPreview);

/** Makes `file` the Ask image, as if chosen in the file picker (drop, paste, examples). */
function useImage(file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  askImage.files = transfer.files;
  showPreview();
  showError('ask-error', null);
}

const imageIn = (items) => [...(items || [])].map((item) => (item.kind === 'file' ? item.getAsFile() : item))
  .find((file) => file && file.type && file.type.startsWith('image/'));

const dropZone = $('ask-drop');
for (const type of ['dragenter', 'dragover']) {
  dropZone.addEventListener(type, (event) => { event.preventDefault(); dropZone.classList.add('dragging'); });
}
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  const file = imageIn(event.dataTransfer && (event.dataTransfer.items.length ? event.dataTransfer.items : event.dataTransfer.files));
  if (file) useImage(file); else showError('ask-error', new Error('Drop an image file (PNG or JPEG).'));
});
// Pasting an image anywhere on the page (outside a text field) makes it the Ask image.
document.addEventListener('paste', (event) => {
  const file = imageIn(event.clipboardData && event.clipboardData.items);
  if (!file) return;
  event.preventDefault();
  useImage(file);
});

// Examples: scenes of the kind the default model knows, each with a question it can answer.
async function loadExamples() {
  try {
    const { examples } = await (await fetch('examples/examples.json')).json();
    $('ask-examples').replaceChildren(...examples.map((example) => h('button', {
      type: 'button', class: 'example', title: `${example.question} (expected: ${example.answer})`,
      'aria-label': `Example: ${example.question}`,
      onclick: async () => {
        const blob = await (await fetch('examples/' + example.image)).blob();
        useImage(new File([blob], example.image, { type: blob.type || 'image/png' }));
        $('ask-question').value = example.question;
      },
    }, h('img', { src: 'examples/' + example.image, alt: '' }))));
  } catch { $('ask-examples').hidden = true; }
}
loadExamples();

/** The image and question of the Ask section as multipart form data (what /v1/answer and /v1/compare take). */
function queryForm() {
  const file = askImage.files[0];
  const question = $('ask-question').value.trim();
  if (!file) throw new Error('Choose an image in the Ask section first.');
  if (!question) throw new Error('Type a question in the Ask section first.');
  const form = new FormData();
  form.append('image', file, file.name);
  form.append('question', question);
  return form;
}

$('ask-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const output = $('ask-result');
  run(event.submitter || $('ask-form').querySelector('button'), 'ask-error', async () => {
    const form = queryForm();
    const snapshot = $('ask-snapshot').value;
    if (snapshot) form.append('snapshot', snapshot);
    output.hidden = true;
    const result = await api('POST', '/v1/answer', { body: form });
    output.replaceChildren(...resultList(result, result.latency_ms));
    output.hidden = false;
  });
});

$('compare-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const output = $('compare-results');
  run(event.submitter || $('compare-form').querySelector('button'), 'compare-error', async () => {
    const form = queryForm();
    for (const id of ['compare-a', 'compare-b']) form.append('snapshots', $(id).value);
    output.replaceChildren();
    const { results, latency_ms: latency } = await api('POST', '/v1/compare', { body: form });
    output.replaceChildren(...results.map((result, index) => h('div', { class: 'card' },
      h('h3', {}, `Snapshot ${'AB'[index] || index + 1}`), h('dl', { class: 'result' }, resultList(result)))));
    output.append(h('p', { class: 'hint' }, `Both answered in ${Math.round(latency)} ms.`));
  });
});

// ---- Push a task -----------------------------------------------------------------------------

let pushFiles = [];
const relativePath = (file) => file.webkitRelativePath || file.name;
const directoryOf = (path) => path.slice(0, path.lastIndexOf('/') + 1);

/** Finds the manifest among the chosen files and the file for every image it names. */
async function readPush() {
  const manifests = pushFiles.filter((file) => file.name.endsWith('.jsonl'))
    .sort((a, b) => (a.name !== 'data.jsonl') - (b.name !== 'data.jsonl') || relativePath(a).split('/').length - relativePath(b).split('/').length);
  if (!manifests.length) throw new Error('The chosen files include no data.jsonl manifest.');
  const manifest = manifests[0];
  const base = directoryOf(relativePath(manifest));
  const byPath = new Map(), byName = new Map();
  for (const file of pushFiles) {
    const path = relativePath(file);
    if (path.startsWith(base)) byPath.set(path.slice(base.length), file);
    if (!byName.has(file.name)) byName.set(file.name, file);
  }
  const text = await manifest.text();
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  const images = new Map();
  lines.forEach((line, index) => {
    let entry;
    try { entry = JSON.parse(line); } catch { throw new Error(`${manifest.name} line ${index + 1} is not JSON.`); }
    if (!entry || typeof entry.image !== 'string' || typeof entry.question !== 'string' || typeof entry.answer !== 'string') {
      throw new Error(`${manifest.name} line ${index + 1} is not {"image", "question", "answer"}.`);
    }
    if (images.has(entry.image)) return;
    const file = byPath.get(entry.image.replace(/^\.\//, '')) || byName.get(entry.image.split('/').pop());
    if (!file) throw new Error(`${manifest.name} line ${index + 1} names ${entry.image}, which is not among the chosen files.`);
    images.set(entry.image, file);
  });
  const bytes = [...images.values()].reduce((sum, file) => sum + file.size, text.length);
  const parts = base.split('/').filter(Boolean);
  return { manifest, text, items: lines.length, images, bytes, folder: parts[parts.length - 1], parent: parts[parts.length - 2] };
}

/** A task name for a chosen folder: a benchmark's `01-count-colour/train` is `count-colour`, not `train`. */
function taskName(folder, parent) {
  const name = ['train', 'eval', 'data'].includes(folder) && parent ? parent : folder;
  return name.replace(/^\d+-/, '').slice(0, 64);
}

async function summarisePush() {
  showError('push-error', null);
  $('push-summary').textContent = '';
  if (!pushFiles.length) return;
  try {
    const push = await readPush();
    $('push-summary').textContent = `${relativePath(push.manifest)}: ${push.items} items, ${push.images.size} images, ${(push.bytes / 1048576).toFixed(1)} MiB.`;
    if (!$('push-name').value && push.folder) $('push-name').value = taskName(push.folder, push.parent);
  } catch (error) { showError('push-error', error); }
}

for (const [id, other] of [['push-folder', 'push-files'], ['push-files', 'push-folder']]) {
  $(id).addEventListener('change', () => {
    pushFiles = [...$(id).files];
    $(other).value = '';
    summarisePush();
  });
}

$('push-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('push-result').textContent = '';
  run(event.submitter || $('push-form').querySelector('button[type=submit]'), 'push-error', async () => {
    if (!pushFiles.length) throw new Error('Choose a dataset folder or files first.');
    const push = await readPush();
    const form = new FormData();
    form.append('name', $('push-name').value.trim());
    if ($('push-strategy').value) form.append('strategy', $('push-strategy').value);
    if ($('push-eval').value !== '') form.append('eval_fraction', $('push-eval').value);
    form.append('manifest', new Blob([push.text], { type: 'application/x-ndjson' }), 'data.jsonl');
    for (const [name, file] of push.images) form.append(name, file, file.name);
    const bar = $('push-upload');
    bar.hidden = false;
    bar.value = 0;
    const { task_id: task, job_id: job } = await upload('/v1/tasks', form, (sent, total) => {
      bar.max = total;
      bar.value = sent;
      bar.title = `${(sent / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB sent`;
      $('push-result').textContent = sent < total ? `Uploading: ${Math.floor((100 * sent) / total)}%` : 'Uploaded; the server is checking the items…';
    });
    $('push-result').textContent = `Accepted: task ${task}, tuning as job ${job}.`;
    pollJobs();
  });
});

// ---- Jobs ------------------------------------------------------------------------------------

let jobsSignature = null;
let jobsTimer = null;

/** Whether a job is queued or running (the server's `JobState.isUnfinished`). */
const isUnfinished = (job) => ['queued', 'running', 'evaluating'].includes(job.state);

function jobRow(job) {
  const progress = job.progress;
  const done = job.state === 'done';
  const bar = progress
    ? h('div', { class: 'progress' },
      h('progress', { max: progress.total, value: done ? progress.total : progress.step, 'aria-label': `Job ${job.id} progress` }),
      h('span', {}, done ? `${progress.step} steps` : `${progress.step}/${progress.total}`))
    : h('span', { class: 'hint' }, job.state === 'queued' ? 'waiting' : '–');
  const snapshot = job.snapshot
    ? [h('code', {}, job.snapshot), ' ', h('span', { class: 'badge ' + (job.promoted ? 'good' : 'warn') }, job.promoted ? 'promoted' : 'candidate')]
    : '–';
  const checks = progress && progress.held_out;
  const last = checks && checks[checks.length - 1];
  const outcome = job.outcome;
  const learned = outcome
    ? h('div', { class: 'small ' + (outcome.verdict === 'not_learned' ? 'error' : 'hint') }, outcome.summary)
    : last ? h('div', { class: 'small hint' }, `held-out ${last.correct}/${last.items} after ${last.step} steps`) : null;
  // What a job made of feedback learns from: the corrections, and for a revision the task's earlier items too.
  const fed = job.from_feedback;
  const source = fed
    ? h('div', { class: 'small hint' }, `${fed.corrections} correction${fed.corrections === 1 ? '' : 's'}, ${fed.judged_right} judged right`
      + (job.revises ? ` + ${job.revises.training_items} earlier items (revision)` : ''))
    : null;
  return h('tr', {},
    h('td', {}, h('code', {}, job.id)), h('td', {}, job.task || job.task_id, source), h('td', {}, job.strategy || '–'),
    h('td', {}, h('span', { class: `badge state-${job.state}` }, job.state), job.error ? h('div', { class: 'error small' }, job.error) : null),
    h('td', {}, bar), h('td', { class: 'num' }, progress && progress.loss !== undefined ? progress.loss.toFixed(3) : '–'),
    h('td', { class: 'num' }, done || job.state === 'failed' ? '–' : duration(progress && progress.eta_s)),
    h('td', {}, snapshot, learned,
      isUnfinished(job)
        ? h('button', { type: 'button', class: 'small', 'aria-label': `Cancel job ${job.id}`,
            onclick: (event) => cancelJob(job.id, event.currentTarget) }, 'Cancel')
        : null));
}

async function cancelJob(id, button) {
  if (await run(button, 'jobs-error', () => api('DELETE', `/v1/jobs/${encodeURIComponent(id)}`, { write: true }))) pollJobs();
}

async function pollJobs() {
  clearTimeout(jobsTimer);
  try {
    const { jobs } = await api('GET', '/v1/jobs');
    showError('jobs-error', null);
    const busy = new Set(jobs.filter(isUnfinished).map((job) => job.task_id));
    const busyChanged = [...busy].join() !== [...busyTasks].join();
    busyTasks = busy;
    if (busyChanged && renderedTasks) renderTasks(renderedTasks.tasks, renderedTasks.snapshots);
    const rows = jobs.slice().reverse().map(jobRow);
    $('jobs-body').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 8, class: 'hint' }, 'No jobs yet.'))]));
    const signature = jobs.map((job) => `${job.id}:${job.state}:${job.snapshot}`).join(',');
    if (jobsSignature !== null && signature !== jobsSignature) refreshSnapshots();
    jobsSignature = signature;
  } catch (error) { showError('jobs-error', error); }
  jobsTimer = setTimeout(pollJobs, document.hidden ? 5000 : 1500);
}

// ---- Snapshots and the accuracy matrix -------------------------------------------------------

function fillSelect(select, snapshots, active, { allowActive = false, preferred } = {}) {
  const previous = select.value;
  const options = snapshots.map((s) => h('option', { value: s.id }, s.id + (s.id === active ? ' (active)' : '')));
  if (allowActive) options.unshift(h('option', { value: '' }, 'active snapshot'));
  select.replaceChildren(...options);
  const ids = snapshots.map((s) => s.id);
  select.value = ids.includes(previous) || (allowActive && previous === '') ? previous : (preferred ?? (allowActive ? '' : ids[0] || ''));
}

/** Red (0 %) through yellow to green (100 %), light enough for dark text. */
const heat = (value) => `hsl(${Math.round(120 * Math.max(0, Math.min(1, value)))}, 70%, 78%)`;

function renderMatrix(snapshots, tasks) {
  const order = tasks.slice().sort((a, b) => a.created_at.localeCompare(b.created_at)).map((task) => task.name);
  const names = new Set(snapshots.flatMap((s) => Object.keys(s.accuracy || {})));
  const columns = [...order.filter((name) => names.has(name)), ...[...names].filter((name) => !order.includes(name)).sort()];
  if (!columns.length) {
    $('matrix').replaceChildren(h('caption', { class: 'hint' }, 'No accuracies yet: push a task to see them.'));
    return;
  }
  $('matrix').replaceChildren(
    h('caption', { class: 'sr-only' }, 'Held-out accuracy of each snapshot on each task'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Snapshot'), columns.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, snapshots.map((s) => h('tr', {}, h('th', { scope: 'row' }, h('code', {}, s.id)),
      columns.map((name) => matrixCell(s, name, snapshots))))));
}

/** A task's held-out accuracy on a snapshot: the percentage, n, and for the task the snapshot learned, before → after.
 *  Fewer than 20 held-out items cannot tell much: such a cell is flagged and not coloured. */
function matrixCell(snapshot, name, snapshots = []) {
  const value = snapshot.accuracy ? snapshot.accuracy[name] : undefined;
  if (value === undefined) {
    // Not evaluated on this snapshot, but a child tuned on it measured it there first (its "before").
    const child = snapshots.find((c) => c.parent === snapshot.id && c.before && c.before[name]);
    if (!child) return h('td', { class: 'empty' }, '–');
    const measured = child.before[name];
    return h('td', { class: 'num measured-before', title: `${measured.correct}/${measured.items} held-out items right, measured before tuning ${child.id}` },
      percent(measured.accuracy), h('span', { class: 'n' }, ` n=${measured.items} (before)`));
  }
  const score = snapshot.held_out && snapshot.held_out[name];
  const before = snapshot.before && snapshot.before[name];
  const small = score && score.small;
  const label = `${score ? `${score.correct}/${score.items} held-out items right` : ''}${small ? ' — too few items to tell' : ''}`;
  return h('td', { class: 'num' + (small ? ' small-n' : ''), style: small ? '' : `background:${heat(value)}`, title: label },
    before ? h('span', { class: 'before' }, `${percent(before.accuracy)} → `) : null,
    percent(value),
    score ? h('span', { class: 'n' }, ` n=${score.items}${small ? ' (too few)' : ''}`) : null);
}

async function deleteSnapshot(id, button) {
  if (!window.confirm(`Delete snapshot ${id} for good?`)) return;
  if (await run(button, 'snapshots-error', () => api('DELETE', `/v1/snapshots/${encodeURIComponent(id)}`, { write: true }))) refreshSnapshots();
}

async function labelSnapshot(id, current, button) {
  const label = window.prompt(`Label for ${id} (empty removes it):`, current || '');
  if (label === null) return;
  if (await run(button, 'snapshots-error', () => api('POST', `/v1/snapshots/${encodeURIComponent(id)}/label`, { body: { label }, write: true }))) refreshSnapshots();
}

async function deleteTask(task, button) {
  if (!window.confirm(`Delete task ${task.name} (${task.items} items) and its job for good?`)) return;
  if (await run(button, 'tasks-error', () => api('DELETE', `/v1/tasks/${encodeURIComponent(task.id)}`, { write: true }))) refreshSnapshots();
}

// Tasks whose job is queued or running: the server refuses to delete them (409), so the page offers no Delete.
let busyTasks = new Set();
let renderedTasks = null;

function renderTasks(tasks, snapshots) {
  renderedTasks = { tasks, snapshots };
  // By id: a revision keeps its task's name, and a snapshot's lineage names the revision in its place.
  const learnedBy = (task) => snapshots.filter((s) => (s.task_ids || []).includes(task.id)).map((s) => s.id);
  $('tasks-body').replaceChildren(...(tasks.length ? tasks.map((task) => {
    const users = learnedBy(task);
    return h('tr', {},
      h('td', {}, task.name, h('div', { class: 'small hint' }, h('code', {}, task.id),
        task.revises ? [' revises ', h('code', {}, task.revises)] : null)),
      h('td', { class: 'num' }, String(task.items)), h('td', { class: 'num' }, String(task.eval_items)),
      h('td', {}, users.length ? `${users.length} snapshot${users.length > 1 ? 's' : ''}` : h('span', { class: 'hint' }, 'none')),
      h('td', {}, shortTime(task.created_at)),
      h('td', {}, users.length || busyTasks.has(task.id) ? null : h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete task ${task.name}`,
        onclick: (event) => deleteTask(task, event.currentTarget) }, 'Delete')));
  }) : [h('tr', {}, h('td', { colspan: 6, class: 'hint' }, 'No tasks pushed yet.'))]));
}

async function startCanary(id, button) {
  const share = window.prompt(`Share of queries (%) for ${id} as a canary; the rule completes or rolls it back:`, '20');
  if (share === null) return;
  const traffic = Number(share) / 100;
  if (await run(button, 'snapshots-error', () => api('POST', '/v1/promote', { body: { snapshot: id, traffic }, write: true }))) refreshSnapshots();
}

function armText(stats) {
  const judged = stats.feedback ? `${stats.correct}/${stats.feedback} right` : 'none judged';
  return `${stats.answers} answers, ${judged}${stats.p99_ms !== undefined ? `, p99 ${Math.round(stats.p99_ms)} ms` : ''}`;
}

async function refreshCanary() {
  const { canary, decisions } = await api('GET', '/v1/canary');
  const last = decisions[decisions.length - 1];
  const parts = [];
  if (canary) {
    parts.push(h('p', {}, h('strong', {}, 'Canary: '), h('code', {}, canary.candidate), ` gets ${Math.round(canary.traffic * 100)}% of the queries against `,
      h('code', {}, canary.active), '.'),
    h('p', { class: 'small' }, `Candidate: ${armText(canary.candidate_stats)}. Active: ${armText(canary.active_stats)}.`),
    h('p', {}, h('button', { type: 'button', class: 'small', onclick: (event) => run(event.currentTarget, 'snapshots-error',
      () => api('POST', '/v1/canary/complete', { write: true })).then(refreshSnapshots) }, 'Complete now'), ' ',
    h('button', { type: 'button', class: 'small secondary', onclick: (event) => run(event.currentTarget, 'snapshots-error',
      () => api('DELETE', '/v1/canary', { write: true })).then(refreshSnapshots) }, 'Roll back')));
  }
  if (last) {
    parts.push(h('p', { class: 'small hint' }, `Last canary decision (${shortTime(last.at)}): `, h('code', {}, last.candidate), ` ${last.action.replace('_', ' ')} — ${last.reason}.`));
  }
  $('canary').replaceChildren(...parts);
  $('canary').hidden = !parts.length;
}

async function promote(id, button) {
  if (await run(button, 'snapshots-error', () => api('POST', `/v1/snapshots/${encodeURIComponent(id)}/promote`, { write: true }))) refreshSnapshots();
}

$('rollback').addEventListener('click', async (event) => {
  if (await run(event.currentTarget, 'snapshots-error', () => api('POST', '/v1/rollback', { write: true }))) refreshSnapshots();
});

let snapshotsLoadFailed = false;
let lastActive = null;  // clear only our own loading error, not one from promote or rollback

async function refreshSnapshots() {
  try {
    const [listing, taskListing] = await Promise.all([api('GET', '/v1/snapshots'), api('GET', '/v1/tasks')]);
    if (snapshotsLoadFailed) showError('snapshots-error', null);
    snapshotsLoadFailed = false;
    const snapshots = listing.snapshots.slice().sort((a, b) => a.created_at.localeCompare(b.created_at));
    const active = listing.active;
    $('snapshots-body').replaceChildren(...snapshots.map((s) => h('tr', { class: s.id === active ? 'active' : null },
      h('td', {}, s.id === active ? h('span', { class: 'badge good' }, '● active') : ''),
      h('td', {}, h('code', {}, s.id), s.label ? h('div', { class: 'small hint' }, s.label) : null),
      h('td', {}, s.kind, s.candidate ? [' ', h('span', { class: 'badge warn' }, 'candidate')] : null),
      h('td', {}, s.parent ? h('code', {}, s.parent) : '–'), h('td', {}, s.strategy || '–'),
      h('td', {}, s.tasks.length ? s.tasks.join(', ') : '–'), h('td', {}, onlineSummary(s.online)), h('td', {}, shortTime(s.created_at)),
      h('td', {}, h('button', { type: 'button', disabled: s.id === active, 'aria-label': `Promote ${s.id}`,
        onclick: (event) => promote(s.id, event.currentTarget) }, 'Promote'), ' ',
        h('button', { type: 'button', class: 'small', 'aria-label': `Label ${s.id}`,
          onclick: (event) => labelSnapshot(s.id, s.label, event.currentTarget) }, 'Label'),
        s.id !== active ? [' ', h('button', { type: 'button', class: 'small', 'aria-label': `Canary ${s.id}`,
          onclick: (event) => startCanary(s.id, event.currentTarget) }, 'Canary…')] : null,
        s.kind !== 'base' && s.id !== active && s.id !== listing.previous
          ? [' ', h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${s.id}`,
              onclick: (event) => deleteSnapshot(s.id, event.currentTarget) }, 'Delete')]
          : null))));
    $('rollback').disabled = !listing.previous;
    $('rollback').title = listing.previous ? `Make ${listing.previous} active again` : 'No snapshot was active before this one';
    $('rollback-hint').textContent = listing.previous ? `Goes back to ${listing.previous}.` : 'Nothing to roll back to yet.';
    fillSelect($('ask-snapshot'), snapshots, active, { allowActive: true });
    const activeSnapshot = snapshots.find((s) => s.id === active);
    // When the active snapshot changes (a promotion, a rollback, a job), compare the new one with its parent.
    if (active !== lastActive) { $('compare-a').value = ''; $('compare-b').value = ''; }
    lastActive = active;
    fillSelect($('compare-a'), snapshots, active, { preferred: active });
    fillSelect($('compare-b'), snapshots, active, { preferred: (activeSnapshot && activeSnapshot.parent) || active });
    // Strategies the server would refuse for the active snapshot (409) are offered disabled, with the reason.
    if (listing.strategies) {
      for (const option of $('push-strategy').options) {
        if (!option.value) continue;
        const usable = listing.strategies.includes(option.value);
        option.disabled = !usable;
        option.textContent = option.value + (usable ? '' : ' (not with the active snapshot)');
      }
      if ($('push-strategy').selectedOptions[0] && $('push-strategy').selectedOptions[0].disabled) $('push-strategy').value = '';
    }
    renderMatrix(snapshots, taskListing.tasks);
    renderTasks(taskListing.tasks, snapshots);
    await refreshCanary();
  } catch (error) {
    showError('snapshots-error', error);
    snapshotsLoadFailed = true;
  }
  refreshStatus();
}

async function refreshStatus() {
  const status = $('status');
  try {
    const response = await fetch('/readyz');
    const body = await response.json();
    status.textContent = body.status === 'ready' ? `ready · active snapshot ${body.active}` : `not ready (${body.status})`;
    status.className = 'status ' + (response.ok ? 'good' : 'warn');
  } catch {
    status.textContent = 'server unreachable';
    status.className = 'status bad';
  }
}

document.addEventListener('visibilitychange', () => { if (!document.hidden) pollJobs(); });
setInterval(refreshSnapshots, 15000);
refreshSnapshots();
pollJobs();
