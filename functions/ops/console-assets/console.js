// The console page: asks /api/find, lists the hits, plays one, shows its sidecar, holds or releases it.
// The run's token comes in the address's fragment (never sent to a server) and goes with every request.

const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const $ = (selector) => document.querySelector(selector);
let canHold = false;

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { 'x-callvault-token': token, ...(init.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function say(text, isError = false) {
  const message = $('#message');
  message.textContent = text;
  message.classList.toggle('error', isError);
}

function cell(row, content, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? '';
  row.append(td);
  return td;
}

/** "number (name)" and, on a second line, the person and extension ids. */
function party(number, name, personId) {
  const wrap = document.createElement('span');
  // Telphin often names an extension by its own number: say it once.
  const shownName = name && name !== number ? `(${name})` : null;
  wrap.textContent = [number, shownName].filter(Boolean).join(' ') || '?';
  if (personId) {
    const ids = document.createElement('div');
    ids.className = 'muted';
    ids.textContent = `person ${personId}`;
    wrap.append(ids);
  }
  return wrap;
}

function button(label, onClick, name) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  if (name) element.setAttribute('aria-label', name);
  element.addEventListener('click', onClick);
  return element;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds === '') return '';
  const total = Math.round(Number(seconds));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

function markHeld(row, hit) {
  row.classList.toggle('held', hit.held === true);
  const status = row.querySelector('td.status');
  status.textContent = hit.status;
  if (hit.held) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'held';
    status.append(badge);
  }
  const holdButton = row.querySelector('button.hold');
  if (holdButton) {
    holdButton.textContent = hit.held ? 'Release' : 'Hold';
    holdButton.setAttribute('aria-label', `${hit.held ? 'Release the hold on' : 'Hold'} ${hit.recording_id}`);
  }
}

function renderHits(hits) {
  const body = $('#results tbody');
  body.replaceChildren();
  for (const hit of hits) {
    const row = document.createElement('tr');
    row.dataset.key = hit.object_key || '';
    row.dataset.recordingId = hit.recording_id || '';
    cell(row, hit.started_at);
    cell(row, hit.direction || 'unknown');
    cell(row, party(hit.from_number, hit.from_name, hit.from_person_id));
    cell(row, party(hit.to_number, hit.to_name, hit.to_person_id));
    cell(row, duration(hit.duration_seconds));
    cell(row, hit.status, 'status');
    cell(row, `${hit.provider}/${hit.source}`);
    const actions = cell(row, '', 'actions');
    if (hit.play) actions.append(button('Play', () => show(hit, true), `Play ${hit.recording_id}`));
    if (hit.sidecar_key)
      actions.append(button('Details', () => show(hit, false), `Details of ${hit.recording_id}`));
    if (
      canHold &&
      hit.object_key &&
      hit.status !== 'gone-at-source' &&
      hit.status !== 'expired-before-fetch'
    ) {
      const holdButton = button('Hold', () => toggleHold(hit, row, holdButton));
      holdButton.className = 'hold';
      actions.append(holdButton);
    }
    body.append(row);
    markHeld(row, hit);
  }
}

/** Shows one hit: a player (audio, or video for a video/* copy) and its sidecar. */
async function show(hit, play) {
  const details = $('#details');
  details.hidden = false;
  $('#details-title').textContent = `Recording ${hit.recording_id} (${hit.started_at})`;
  const player = $('#player');
  player.replaceChildren();
  $('#player-status').textContent = '';
  if (hit.play) {
    const isVideo = (hit.content_type || '').startsWith('video/');
    const media = document.createElement(isVideo ? 'video' : 'audio');
    media.controls = true;
    media.preload = 'metadata';
    media.src = hit.play.startsWith('/media') ? `${hit.play}&token=${encodeURIComponent(token)}` : hit.play;
    media.setAttribute('aria-label', `Recording ${hit.recording_id}`);
    media.addEventListener('loadedmetadata', () => {
      $('#player-status').textContent = `Loaded: ${duration(media.duration)} long`;
    });
    media.addEventListener('error', () => {
      $('#player-status').textContent = 'This copy cannot be played in this browser.';
    });
    player.append(media);
    if (play) media.play().catch(() => {});
  }
  $('#details-title').focus();
  const sidecar = $('#sidecar');
  sidecar.textContent = hit.sidecar_key ? 'Loading…' : 'No sidecar for this outcome.';
  if (hit.sidecar_key) {
    try {
      const body = await api(`/api/sidecar?key=${encodeURIComponent(hit.sidecar_key)}`);
      sidecar.textContent = JSON.stringify(body, null, 2);
    } catch (error) {
      sidecar.textContent = error.message;
    }
  }
}

async function toggleHold(hit, row, holdButton) {
  const release = hit.held === true;
  holdButton.disabled = true;
  try {
    const outcome = await api('/api/hold', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ objectKey: hit.object_key, release }),
    });
    hit.held = outcome.held;
    markHeld(row, hit);
    say(`${outcome.held ? 'Held' : 'Released'} ${hit.recording_id} (${outcome.protection})`);
  } catch (error) {
    say(error.message, true);
  } finally {
    holdButton.disabled = false;
  }
}

async function search(event) {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($('#search'))) if (String(value).trim()) query.set(name, value);
  say('Searching…');
  const table = $('#results');
  table.setAttribute('aria-busy', 'true');
  try {
    const answer = await api(`/api/find?${query}`);
    renderHits(answer.hits);
    const count = answer.hits.length;
    say(
      `${count} hit${count === 1 ? '' : 's'} in ${answer.elapsedMs} ms${count === answer.limit ? ` (the first ${answer.limit}; raise "At most" for more)` : ''}`,
    );
  } catch (error) {
    $('#results tbody').replaceChildren();
    say(error.message, true);
  } finally {
    table.setAttribute('aria-busy', 'false');
  }
}

async function start() {
  $('#search').addEventListener('submit', search);
  try {
    const session = await api('/api/session');
    canHold = session.canHold;
    $('#where').textContent = `${session.mode === 'aws' ? 'AWS' : 'Local'}: ${session.where}`;
    const select = $('#search select[name=source]');
    for (const source of session.sources) {
      const option = document.createElement('option');
      option.value = source.id;
      option.textContent = `${source.id} (${source.provider})`;
      select.append(option);
    }
    say('Fill in any fields and press Search; with none, it lists the first recordings in the archive.');
    document.body.dataset.ready = 'true';
  } catch (error) {
    $('#where').textContent = error.message;
  }
}

start();
