// backviz live: every edit redraws the figure (POST /api/draw), one request at a time.
// While a request is out, later edits wait and only the latest is sent, so a slow
// drawing never queues up a backlog, and the figure always ends on what was typed last.
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('config').textContent);
  const token = new URLSearchParams(location.search).get('token') || '';
  const themes = Object.keys(config.themes);
  const DEBOUNCE_MS = 30;  // typing: a burst of keys is one drawing
  const BUSY_MS = 150;     // after this long, say that it is drawing

  const $ = (id) => document.getElementById(id);
  const box = $('expression'), errorBox = $('error'), fields = $('fields'), figure = $('figure');
  const precisionSelect = $('precision'), themeSelect = $('theme'), statusLine = $('status');
  const prev = $('prev'), next = $('next'), complete = $('complete'), counter = $('counter');
  const caption = $('caption'), summary = $('summary');

  // Values by variable name: a map without a prototype, so that a variable called
  // constructor, toString or __proto__ is a name like any other.
  const noPrototype = (from) => Object.assign(Object.create(null), from);
  const state = {expression: '', values: noPrototype(), precision: null, theme: themes[0], step: null};
  let variables = [];     // the names of the last expression that parsed, in order
  let frames = 0;         // frames of its build (0: none, too many gates)
  let lastSvg = '';
  let inFlight = false, pending = false, timer = null;

  for (const name of themes) {
    themeSelect.append(new Option(name, name));
  }

  // --- the state in the address: #expr=...&v.x=-2&precision=3&theme=...&frame=3 --------
  // (frames are counted from 1 in the address, as on the page; from 0 in the API)
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (!p.has('expr')) { return false; }
    state.expression = p.get('expr');
    state.values = noPrototype();
    for (const [key, value] of p) {
      if (key.startsWith('v.')) { state.values[key.slice(2)] = value; }
    }
    const precision = parseInt(p.get('precision'), 10);
    state.precision = precision >= 0 && precision <= 12 ? precision : null;
    state.theme = themes.includes(p.get('theme')) ? p.get('theme') : themes[0];
    const frame = parseInt(p.get('frame'), 10);
    state.step = frame >= 1 ? frame - 1 : null;
    return true;
  }

  function writeHash() {
    const p = new URLSearchParams();
    p.set('expr', state.expression);
    for (const name of variables) {
      if (name in state.values) { p.set('v.' + name, state.values[name]); }
    }
    if (state.precision !== null) { p.set('precision', state.precision); }
    if (state.theme !== themes[0]) { p.set('theme', state.theme); }
    if (state.step !== null) { p.set('frame', state.step + 1); }
    history.replaceState(null, '', '#' + p.toString());
  }

  function showState() {
    box.value = state.expression;
    precisionSelect.value = state.precision === null ? '' : String(state.precision);
    themeSelect.value = state.theme;
    for (const row of fields.children) { setField(row, state.values[row.dataset.name] || ''); }
  }

  // --- one field per variable: a number with a slider, or a JSON list -----------------
  function isNumber(text) { return text.trim() !== '' && Number.isFinite(Number(text)); }

  function makeField(name) {
    const row = document.createElement('div');
    row.className = 'field';
    row.dataset.name = name;
    const label = document.createElement('label');
    label.textContent = name;
    label.htmlFor = 'value-' + name;
    label.title = name;
    const text = document.createElement('input');
    Object.assign(text, {type: 'text', name: name, id: 'value-' + name, autocomplete: 'off',
                         spellcheck: false, inputMode: 'decimal'});
    const slider = document.createElement('input');
    Object.assign(slider, {type: 'range', className: 'slider'});
    slider.dataset.for = name;
    slider.setAttribute('aria-label', name + ' slider');
    text.addEventListener('input', () => {
      state.values[name] = text.value;
      fitSlider(row, text.value, false);
      edited(DEBOUNCE_MS);
    });
    slider.addEventListener('input', () => {
      const digits = Math.max(0, -Math.floor(Math.log10(Number(slider.step))));
      text.value = String(Number(Number(slider.value).toFixed(digits)));
      state.values[name] = text.value;
      edited(0);
    });
    row.append(label, text, slider);
    return row;
  }

  // The slider spans -s..s around 0, s a power of 10 at least twice the value (10 at
  // least), in 1,000 steps; it is rescaled only when a typed value falls outside it.
  function fitSlider(row, value, always) {
    const slider = row.querySelector('.slider');
    const scalar = isNumber(value);
    row.classList.toggle('array', !scalar && value.trim().startsWith('['));
    row.querySelector('input[type="text"]').inputMode = scalar ? 'decimal' : 'text';
    slider.hidden = !scalar;
    if (!scalar) { return; }
    const x = Number(value);
    if (always || Math.abs(x) > Number(slider.max)) {
      const scale = Math.max(10, Math.pow(10, Math.ceil(Math.log10(2 * Math.abs(x) || 1))));
      Object.assign(slider, {min: -scale, max: scale, step: scale / 1000});
    }
    slider.value = x;
  }

  function setField(row, value) {
    const text = row.querySelector('input[type="text"]');
    if (text.value !== value) { text.value = value; }
    fitSlider(row, value, true);
  }

  function showFields(list) {
    variables = list.map((v) => v.name);
    const rows = noPrototype();
    for (const row of fields.children) { rows[row.dataset.name] = row; }
    for (const v of list) {
      if (!(v.name in state.values)) { state.values[v.name] = v.value; }
      if (!rows[v.name]) {
        rows[v.name] = makeField(v.name);
        setField(rows[v.name], state.values[v.name]);
      }
    }
    const order = [...fields.children].map((row) => row.dataset.name);
    if (order.join(' ') !== variables.join(' ')) {  // moving a row would blur its field
      fields.replaceChildren(...variables.map((name) => rows[name]));
    }
  }

  // --- drawing --------------------------------------------------------------------------
  function edited(delay) {
    writeHash();
    clearTimeout(timer);
    timer = setTimeout(send, delay);
  }

  function request(format) {
    return {expression: state.expression, values: state.values, precision: state.precision,
            theme: state.theme, step: state.step, format: format};
  }

  function post(body) {
    return fetch('/api/draw', {
      method: 'POST', body: JSON.stringify(body),
      headers: {'Content-Type': 'application/json', 'X-Backviz-Token': token},
    }).then((response) => response.json().then((data) => [response.status, data,
                                                          response.headers.get('Retry-After')]));
  }

  function send() {
    if (inFlight) { pending = true; return; }
    inFlight = true;
    pending = false;
    const busy = setTimeout(() => {
      statusLine.textContent = 'drawing\u2026';
      statusLine.className = 'busy';
    }, BUSY_MS);
    post(request('svg')).then(([status, data, retry]) => {
      show(status, data);
      // The server was at capacity: the same drawing is asked again when it says, unless
      // an edit comes first (edited() clears the timer).
      if (status === 503 && retry && !pending) {
        clearTimeout(timer);
        timer = setTimeout(send, 1000 * Number(retry));
      }
    }, () => {
      showError('The backviz live server does not answer: is it still running?');
    }).finally(() => {
      clearTimeout(busy);
      inFlight = false;
      if (pending) { send(); }
    });
  }

  function show(status, data) {
    if (data.variables) {
      showFields(data.variables);
      writeHash();
    }
    if (status !== 200) {
      showError(data.error || 'the server answered ' + status);
      figure.classList.add('stale');
      summary.classList.add('stale');  // both are the last good figure's
      statusLine.textContent = '';
      document.dispatchEvent(new CustomEvent('backviz-error', {detail: data}));
      return;
    }
    lastSvg = data.svg;
    figure.innerHTML = data.svg.slice(data.svg.indexOf('<svg'));
    // Shrunk to fit, but never below 80% of its size (a phone scrolls it sideways,
    // as the stepping page does): smaller, its numbers would be hard to read.
    const svg = figure.querySelector('svg');
    svg.style.minWidth = Math.round(0.8 * svg.width.baseVal.value) + 'px';
    // When it scrolls, the gate a frame is at is brought into view.
    const gate = svg.querySelector('.node [fill="' + config.themes[state.theme].highlight + '" i]');
    if (gate && figure.scrollWidth > figure.clientWidth) {
      const at = gate.getBoundingClientRect(), view = figure.getBoundingClientRect();
      figure.scrollLeft += at.left + at.width / 2 - (view.left + view.width / 2);
    }
    figure.classList.remove('stale');
    summary.classList.remove('stale');
    figure.style.background = config.themes[state.theme].background;  // a dark figure's margins too
    errorBox.hidden = true;
    frames = data.frames;
    if (state.step !== null && data.step !== null) { state.step = data.step; }
    showSteps(data.caption);
    showSummary(data.summary);
    statusLine.textContent = 'drawn in ' + Math.round(data.ms) + ' ms';
    statusLine.className = '';
    document.dispatchEvent(new CustomEvent('backviz-drawn', {detail: {ms: data.ms}}));
  }

  // The message wraps; the expression and its caret (the lines after it) keep their columns.
  function showError(text) {
    const [message, ...caret] = text.split('\n');
    $('message').textContent = message;
    $('caret').textContent = caret.join('\n');
    errorBox.hidden = false;
  }

  function showSummary(s) {
    const rows = [['value', s.output, s.value]].concat(
      s.gradients.map(([, g, label]) => ['grad', label, g]),
      s.warnings.map((w) => ['warning', 'warning', w]));
    summary.replaceChildren(...rows.map(([kind, label, text]) => {
      const tr = document.createElement('tr');
      tr.className = kind;
      for (const t of [label, kind === 'warning' ? '' : '=', text]) {
        const td = document.createElement('td');
        td.textContent = t;
        tr.append(td);
      }
      return tr;
    }));
  }

  // --- stepping through the backward pass, as the --steps page does ------------------
  function showSteps(text) {
    const last = frames - 1;
    if (frames === 0) {
      counter.textContent = 'no steps above 100 gates';
    } else {
      counter.textContent = state.step === null ? 'complete figure'
        : 'frame ' + (state.step + 1) + ' of ' + frames;
    }
    prev.disabled = frames === 0 || state.step === 0;
    next.disabled = frames === 0 || state.step === last;
    complete.disabled = state.step === null;
    caption.textContent = state.step === null ? '' : text || '';
  }

  function step(to) {
    if (frames === 0) { return; }
    state.step = to === null ? null : Math.max(0, Math.min(frames - 1, to));
    edited(0);
  }

  prev.addEventListener('click', () => step(state.step === null ? frames - 1 : state.step - 1));
  next.addEventListener('click', () => step(state.step === null ? 0 : state.step + 1));
  complete.addEventListener('click', () => step(null));
  // The stepping page's keys (backviz/page.py KEYS: the arrows, a clicker's PageUp and
  // PageDown, Space, Enter, Home, End), and Esc for the complete figure; not in a field,
  // and Space or Enter on a button presses the button.
  const keys = config.keys;
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.target.closest('textarea, input, select')) { return; }
    if ((e.key === ' ' || e.key === 'Enter') && e.target.closest('button, a')) { return; }
    const name = e.shiftKey && e.key === ' ' ? 'Shift+ ' : e.key;
    const k = state.step;
    let to;
    if (keys.next.includes(name)) { to = k === null ? 0 : k + 1; }
    else if (keys.previous.includes(name)) { to = k === null ? frames - 1 : k - 1; }
    else if (keys.first.includes(name)) { to = 0; }
    else if (keys.last.includes(name)) { to = frames - 1; }
    else if (name === 'Escape') { to = null; }
    else { return; }
    e.preventDefault();
    step(to);
  });

  // --- the other controls ---------------------------------------------------------------
  box.addEventListener('input', () => {
    state.expression = box.value;
    edited(DEBOUNCE_MS);
  });
  precisionSelect.addEventListener('change', () => {
    state.precision = precisionSelect.value === '' ? null : Number(precisionSelect.value);
    edited(0);
  });
  themeSelect.addEventListener('change', () => {
    state.theme = themeSelect.value;
    edited(0);
  });
  window.addEventListener('hashchange', () => {
    if (readHash()) {
      showState();
      edited(0);
    }
  });

  function fileName() {
    const name = state.expression.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
    const cut = (name || 'figure').slice(0, 60).replace(/_+$/, '');
    // a frame is named as the --steps build names its file (frame-00 is the first)
    return state.step === null ? cut : cut + '-frame-' + String(state.step).padStart(2, '0');
  }

  function download(blob, suffix) {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = fileName() + suffix;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  $('download-svg').addEventListener('click', () => {
    if (lastSvg) { download(new Blob([lastSvg], {type: 'image/svg+xml'}), '.svg'); }
  });
  $('download-png').addEventListener('click', () => {
    post(request('png')).then(([status, data]) => {
      if (status !== 200) { showError(data.error); return; }
      const bytes = Uint8Array.from(atob(data.png), (c) => c.charCodeAt(0));
      download(new Blob([bytes], {type: 'image/png'}), '.png');
    });
  });

  // --- start: the address's state, else what the command was given -------------------
  if (!readHash()) {
    state.expression = config.start.expression;
    state.values = noPrototype(config.start.values);
    state.precision = config.start.precision;
    state.theme = themes.includes(config.start.theme) ? config.start.theme : themes[0];
  }
  showState();
  send();
})();
