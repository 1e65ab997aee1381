// Grant or revoke a feature for a tenant: value, a required reason, an optional end date. The
// write carries the version the page read (If-Match): if someone changed the override since,
// the API answers 412 and the form says so with the current value, writing nothing.

import { ApiError, call } from '../api.js';
import { field, h, replace } from '../dom.js';
import { problem } from '../page.js';
import { valueText, type FeatureValue, type OverrideView, type PolicyView } from '../views.js';

type Feature = PolicyView['features'][number];

export interface OverrideFormOptions {
  readonly tenantId: string;
  readonly features: readonly Feature[];
  /** The overrides as the page read them: their versions go in If-Match. */
  readonly overrides: ReadonlyMap<string, OverrideView>;
  readonly announce: (text: string) => void;
  /** After a write: reload the page's data. */
  readonly saved: (message: string) => Promise<void>;
}

export interface OverrideForm {
  readonly element: HTMLElement;
  /** Fills the form for a feature (grant it, or revoke it) and moves the focus to it. */
  prepare(feature: string, value: FeatureValue): void;
}

/** The version a write expects: the override's, or 0 for "there is none". */
const versionOf = (override: OverrideView | undefined) => String(override?.version ?? 0);

export function conflictText(current: OverrideView | undefined): string {
  if (!current)
    return 'Someone else changed this since the page was loaded: the override has been removed. Nothing was saved; check and submit again.';
  const until = current.expiresAt ? `, until ${new Date(current.expiresAt).toLocaleString()}` : '';
  return `Someone else changed this since the page was loaded: it is now ${valueText(current.value)} (set by ${current.actor}: "${current.reason}"${until}). Nothing was saved; check and submit again.`;
}

export function overrideForm(options: OverrideFormOptions): OverrideForm {
  const versions = new Map([...options.overrides].map(([feature, override]) => [feature, versionOf(override)]));
  const featureSelect = h(
    'select',
    { name: 'feature', required: true },
    options.features.map((feature) => h('option', { value: feature.key }, `${feature.name} (${feature.key})`)),
  );
  const valueSlot = h('div');
  const reason = h('input', { type: 'text', name: 'reason', required: true, maxlength: 500 });
  const expires = h('input', { type: 'date', name: 'expires' });
  const message = h('div', { role: 'alert' });
  let valueControl: HTMLInputElement | HTMLSelectElement = h('select');

  const renderValue = (preset?: FeatureValue) => {
    const feature = options.features.find((candidate) => candidate.key === featureSelect.value);
    if (!feature) return;
    if (feature.type === 'boolean') {
      valueControl = h(
        'select',
        { name: 'value' },
        h('option', { value: 'true' }, 'on (grant)'),
        h('option', { value: 'false' }, 'off (revoke)'),
      );
    } else if (feature.values && feature.values.length > 0) {
      valueControl = h(
        'select',
        { name: 'value' },
        feature.values.map((value) => h('option', { value }, value)),
      );
    } else {
      valueControl = h('input', { type: feature.type === 'number' ? 'number' : 'text', name: 'value', required: true });
    }
    if (preset !== undefined) valueControl.value = String(preset);
    replace(valueSlot, field('Value', valueControl));
  };
  featureSelect.addEventListener('change', () => renderValue());
  renderValue();

  const submit = async (event: Event) => {
    event.preventDefault();
    replace(message);
    const feature = options.features.find((candidate) => candidate.key === featureSelect.value);
    if (!feature) return;
    const raw = valueControl.value;
    const value: FeatureValue =
      feature.type === 'boolean' ? raw === 'true' : feature.type === 'number' ? Number(raw) : raw;
    // The override ends at the end of the chosen day, UTC.
    const expiresAt = expires.value ? `${expires.value}T23:59:59.000Z` : null;
    const path = `/api/admin/tenants/${encodeURIComponent(options.tenantId)}/overrides/${encodeURIComponent(feature.key)}`;
    try {
      await call('PUT', path, {
        body: { value, reason: reason.value.trim(), expiresAt },
        headers: { 'if-match': `"${versions.get(feature.key) ?? '0'}"` },
      });
      reason.value = '';
      expires.value = '';
      await options.saved(
        `Saved: ${feature.name} is ${valueText(value)} for ${options.tenantId}${expiresAt ? ` until ${expiresAt.slice(0, 10)}` : ''}.`,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        const current = await call<OverrideView>('GET', path).then(
          (answer) => answer.body,
          () => undefined,
        );
        versions.set(feature.key, versionOf(current));
        replace(message, h('p', { class: 'alert' }, conflictText(current)));
      } else {
        replace(message, h('p', { class: 'alert' }, `Not saved: ${problem(error)}`));
      }
    }
  };

  const element = h(
    'section',
    { 'aria-labelledby': 'override-heading' },
    h('h2', { id: 'override-heading', tabindex: -1 }, 'Grant or revoke a feature'),
    h(
      'form',
      { onsubmit: (event: Event) => void submit(event) },
      field('Feature', featureSelect),
      valueSlot,
      field('Reason', reason, 'Required: why this tenant differs from its plan (shown in the audit log).'),
      field('Until (optional)', expires, 'The override ends at the end of this day (UTC). Leave empty for no end.'),
      h('button', { type: 'submit' }, 'Save override'),
      message,
    ),
  );
  return {
    element,
    prepare(feature, value) {
      featureSelect.value = feature;
      renderValue(value);
      (element.querySelector('h2') as HTMLElement).focus();
      options.announce(`Override form ready for ${feature}`);
    },
  };
}
