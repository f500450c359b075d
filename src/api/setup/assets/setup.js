/* global document, navigator, getSelection, location, setTimeout, clearTimeout, fetch -- a browser script */
// The setup page's behaviour: field checks as you type, policies filled in for your bucket, copy
// buttons, the connection test with its steps, and the status page's actions. It talks only to the
// link-scoped JSON calls under /setup/api (documented in the OpenAPI document), sending the CSRF
// token of this page with every state-changing call.
const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error(data?.error?.message ?? `HTTP ${res.status}`), { status: res.status, body: data });
  return data;
}

const $ = (id) => document.getElementById(id);
const FIELD_INPUT = {
  bucket: 'bucket',
  region: 'region',
  prefix: 'prefix',
  'auth.roleArn': 'roleArn',
  'auth.accessKeyId': 'accessKeyId',
  'auth.secretAccessKey': 'secretAccessKey',
  authMethod: 'test-button',
  format: 'format',
  frequencyMinutes: 'frequencyMinutes',
  accountId: 'accountId',
};

function showError(inputId, message) {
  const input = $(inputId);
  const out = $(`${inputId}-error`) ?? $('form-error');
  if (out) out.textContent = message ?? '';
  if (input && input.tagName !== 'BUTTON') {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// ---- Copy buttons ----
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.addEventListener('click', async () => {
    const text = $(button.dataset.copy)?.textContent ?? '';
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      // No clipboard permission (e.g. an embedded page): select the text so Ctrl-C copies it.
      const range = document.createRange();
      range.selectNodeContents($(button.dataset.copy));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = 'Selected: press Ctrl-C';
    }
    setTimeout(() => (button.textContent = label), 2500);
  });
}

// ---- Connection test ----
const STEP_WORDS = {
  validate_config: 'Check the settings',
  assume_role: 'Sign in as Sluice (AssumeRoleWithWebIdentity)',
  audience_probe: 'Check that the role refuses another destination',
  put_object: 'Write a test file (PutObject)',
  delete_object: 'Delete the test file (DeleteObject)',
};
const STATUS_WORDS = { passed: 'passed', failed: 'failed', skipped: 'skipped', running: 'running…', waiting: 'waiting' };

function renderTest(run) {
  $('test-result').hidden = false;
  const phase = $('test-phase');
  const list = $('test-steps');
  list.replaceChildren();
  if (run.status === 'queued') phase.textContent = 'Waiting for a worker to run the test…';
  else if (run.status === 'running') phase.textContent = 'Running on a worker…';
  else if (run.status === 'error') phase.textContent = `The test could not run: ${run.error?.message ?? 'unknown error'} ${run.error?.hint ?? ''}`;
  else phase.textContent = run.status === 'passed' ? 'The connection test passed.' : 'The connection test failed. See what to change below.';
  // While the test runs, the worker records each step as it finishes: show those, the next one as
  // running and the rest as waiting.
  const steps = [...(run.result?.steps ?? [])];
  if (run.status === 'queued' || run.status === 'running') {
    for (const step of Object.keys(STEP_WORDS)) {
      if (steps.some((s) => s.step === step)) continue;
      const next = run.status === 'running' && !steps.some((s) => s.status === 'running');
      steps.push({ step, status: next ? 'running' : 'waiting' });
    }
  }
  for (const s of steps) {
    const li = document.createElement('li');
    li.className = `step-${s.status}`;
    li.dataset.step = s.step;
    const title = document.createElement('strong');
    title.textContent = `${STEP_WORDS[s.step] ?? s.step}: ${STATUS_WORDS[s.status] ?? s.status}`;
    li.append(title);
    if (s.message && s.status !== 'skipped') {
      const p = document.createElement('p');
      p.textContent = s.message;
      li.append(p);
    }
    if (s.status === 'failed' && s.actor) {
      const who = document.createElement('p');
      who.className = 'who';
      who.textContent = s.actor === 'recipient' ? 'What to change is on your side (AWS).' : `This needs ${s.actor === 'provider' ? 'the provider' : 'Sluice'}: tell them the code ${s.code ?? ''}.`;
      li.append(who);
    }
    list.append(li);
  }
}

async function followTest(testId, onPass) {
  for (let pause = 300; ; pause = Math.min(2000, pause * 1.5)) {
    const { test } = await api('GET', `/setup/api/tests/${encodeURIComponent(testId)}`);
    renderTest(test);
    if (!['queued', 'running'].includes(test.status)) {
      $('test-heading').focus();
      if (test.status === 'passed') onPass?.();
      return test;
    }
    await new Promise((r) => setTimeout(r, pause));
  }
}

// ---- The setup form ----
const form = $('setup-form');
if (form) {
  const authMethod = () => form.querySelector('input[name="authMethod"]:checked')?.value ?? 'role';
  const showAuth = () => {
    for (const el of document.querySelectorAll('[data-auth]')) el.hidden = el.dataset.auth !== authMethod();
  };
  for (const r of form.querySelectorAll('input[name="authMethod"]')) r.addEventListener('change', showAuth);
  showAuth();

  const validate = debounce(async (input) => {
    const field = input.dataset.field;
    const key = field.replace(/^auth\./, '');
    if (input.value === '' && key !== 'prefix') return showError(input.id, '');
    try {
      const { problems } = await api('POST', '/setup/api/validate', { [key]: input.value });
      showError(input.id, problems.find((p) => p.field === field)?.message ?? '');
    } catch (err) {
      showError(input.id, err.message);
    }
  }, 250);
  for (const input of form.querySelectorAll('input[data-field]')) input.addEventListener('input', () => validate(input));

  let lastPolicyKey = '';
  const refreshPolicies = debounce(async () => {
    const bucket = $('bucket').value.trim();
    const prefix = $('prefix').value.trim();
    const fromArn = /^arn:[\w-]+:iam::(\d{12}):/.exec($('roleArn')?.value ?? '')?.[1];
    const typed = $('accountId')?.value.trim();
    const accountId = typed && /^\d{12}$/.test(typed) ? typed : fromArn;
    const key = JSON.stringify([bucket, prefix, accountId]);
    if (key === lastPolicyKey) return;
    if ($('accountId')) showError('accountId', typed && !/^\d{12}$/.test(typed) ? 'must be the 12-digit AWS account id' : '');
    try {
      const p = await api('POST', '/setup/api/policies', { bucket, prefix, ...(accountId ? { accountId } : {}) });
      lastPolicyKey = key;
      $('permissions-policy').textContent = JSON.stringify(p.permissionsPolicy, null, 2);
      $('trust-policy').textContent = JSON.stringify(p.trustPolicy, null, 2);
      $('aws-cli').textContent = p.awsCli;
      if (p.oidcProvider && $('oidc-url')) {
        $('oidc-url').textContent = p.oidcProvider.url;
        $('oidc-audience').textContent = p.oidcProvider.clientIds[0] ?? '';
        $('oidc-probe').textContent = p.oidcProvider.clientIds[1] ?? '';
      }
      const notes = $('policy-notes');
      notes.replaceChildren(...p.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
      $('policies-wait').hidden = true;
    } catch {
      // Not a valid bucket or prefix yet: the field's own message says why.
      $('policies-wait').hidden = false;
    }
  }, 250);
  for (const id of ['bucket', 'prefix', 'roleArn', 'accountId']) $(id)?.addEventListener('input', refreshPolicies);
  refreshPolicies();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const id of Object.values(FIELD_INPUT)) showError(id, '');
    $('form-error').textContent = '';
    const method = authMethod();
    const freq = $('frequencyMinutes').value;
    const body = {
      bucket: $('bucket').value.trim(),
      region: $('region').value.trim(),
      prefix: $('prefix').value.trim(),
      authMethod: method,
      format: $('format').value,
      frequencyMinutes: freq === '' ? null : Number(freq),
      ...(method === 'role'
        ? { roleArn: $('roleArn').value.trim() }
        : { accessKeyId: $('accessKeyId').value.trim(), ...($('secretAccessKey').value ? { secretAccessKey: $('secretAccessKey').value } : {}) }),
    };
    const button = $('test-button');
    button.disabled = true;
    try {
      const { test } = await api('POST', '/setup/api/connect', body);
      // The secret went to the server; it is not kept in the page.
      if ($('secretAccessKey')) $('secretAccessKey').value = '';
      renderTest(test);
      await followTest(test.id, () => ($('test-passed').hidden = false));
    } catch (err) {
      const details = err.body?.error?.details ?? [];
      for (const d of details) showError(FIELD_INPUT[d.field] ?? 'form-error', d.message);
      if (details.length === 0) $('form-error').textContent = `${err.message} ${err.body?.error?.hint ?? ''}`;
      else $(FIELD_INPUT[details[0].field] ?? 'test-button')?.focus();
    } finally {
      button.disabled = false;
    }
  });
}

// ---- The status page ----
for (const button of document.querySelectorAll('button[data-action]')) {
  button.addEventListener('click', async () => {
    $('action-error').textContent = '';
    button.disabled = true;
    try {
      if (button.dataset.action === 'test') {
        const { test } = await api('POST', '/setup/api/test');
        await followTest(test.id);
      } else {
        await api('POST', `/setup/api/${button.dataset.action}`);
        location.reload();
      }
    } catch (err) {
      $('action-error').textContent = `${err.message} ${err.body?.error?.hint ?? ''}`;
    } finally {
      button.disabled = false;
    }
  });
}

const settings = $('settings-form');
if (settings) {
  settings.addEventListener('submit', async (event) => {
    event.preventDefault();
    $('settings-saved').textContent = '';
    for (const id of ['format', 'frequencyMinutes']) showError(id, '');
    try {
      const freq = $('frequencyMinutes').value;
      await api('PATCH', '/setup/api/settings', { format: $('format').value, frequencyMinutes: freq === '' ? null : Number(freq) });
      $('settings-saved').textContent = 'Saved.';
    } catch (err) {
      const details = err.body?.error?.details ?? [];
      for (const d of details) showError(d.field, d.message);
      if (details.length === 0) $('action-error').textContent = err.message;
    }
  });
}
