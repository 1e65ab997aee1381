// The policy in force (version, files, last load error with file:line:column) and a check of
// a changed file: validation and the impact on tenants, before anyone ships it. Checking applies
// nothing.

import { call, get } from '../api.js';
import { field, h, replace, table, when } from '../dom.js';
import { problem, type PageContext } from '../page.js';
import { valueText, type PolicyImpactView, type PolicyIssueView, type PolicyView } from '../views.js';

type Validation =
  { valid: true; version: string; impact: PolicyImpactView } | { valid: false; issues: readonly PolicyIssueView[] };

const tenantsText = (count: number) => `${count} tenant${count === 1 ? '' : 's'}`;

/** The impact as sentences: "revokes X from N tenants". */
export function impactSentences(impact: PolicyImpactView): string[] {
  const sentences: string[] = [];
  for (const feature of impact.addedFeatures) sentences.push(`adds the feature ${feature}`);
  for (const feature of impact.removedFeatures) sentences.push(`removes the feature ${feature}`);
  for (const change of impact.features) {
    if (change.revoked > 0)
      sentences.push(
        `revokes ${change.feature} from ${tenantsText(change.revoked)}${change.lowered > 0 ? ` (${change.lowered} by a lower limit)` : ''}`,
      );
    if (change.granted > 0) sentences.push(`grants ${change.feature} to ${tenantsText(change.granted)}`);
    if (change.changed > 0) sentences.push(`changes ${change.feature} for ${tenantsText(change.changed)}`);
  }
  return sentences;
}

function issueList(issues: readonly PolicyIssueView[]): HTMLElement {
  return h(
    'ul',
    {},
    issues.map((issue) =>
      h('li', {}, h('code', {}, `${issue.file}:${issue.line}:${issue.column}`), ` ${issue.message}`),
    ),
  );
}

export async function policyPage(context: PageContext): Promise<void> {
  const policy = await get<PolicyView>('/api/admin/policy');
  const fileName = h('input', {
    type: 'text',
    name: 'file',
    required: true,
    pattern: '[A-Za-z0-9._-]+\\.ya?ml',
    list: 'policy-files',
    value: policy.files[0] ?? '',
  });
  const fileList = h(
    'datalist',
    { id: 'policy-files' },
    policy.files.map((file) => h('option', { value: file })),
  );
  const text = h('textarea', { name: 'text', required: true, spellcheck: 'false' });
  const upload = h('input', { type: 'file', accept: '.yaml,.yml,text/yaml' });
  const result = h('div', { 'aria-live': 'polite' });
  upload.addEventListener('change', async () => {
    const file = upload.files?.[0];
    if (!file) return;
    text.value = await file.text();
    fileName.value = file.name;
    context.announce(`Loaded ${file.name}`);
  });

  const check = async (event: Event) => {
    event.preventDefault();
    replace(result, h('p', {}, 'Checking…'));
    try {
      const { body } = await call<Validation>(
        'POST',
        `/api/admin/policy/validate?file=${encodeURIComponent(fileName.value.trim())}`,
        { yaml: text.value },
      );
      if (!body.valid) {
        replace(
          result,
          h(
            'div',
            { class: 'alert', role: 'alert' },
            h('h3', {}, `Not valid: ${body.issues.length} problem${body.issues.length === 1 ? '' : 's'}`),
            issueList(body.issues),
          ),
        );
        return;
      }
      const sentences = impactSentences(body.impact);
      replace(
        result,
        h(
          'div',
          { class: 'ok', role: 'alert' },
          h('h3', {}, `Valid: version ${body.version}`),
          h(
            'p',
            {},
            `Across ${tenantsText(body.impact.tenants)}, shipping this file `,
            sentences.length === 0 ? 'changes no decision.' : h('span', {}, 'would:'),
          ),
          sentences.length > 0
            ? h(
                'ul',
                {},
                sentences.map((sentence) => h('li', {}, sentence)),
              )
            : null,
          h(
            'p',
            { class: 'hint' },
            'Nothing was applied: the policy changes when the file is shipped to the policy directory.',
          ),
        ),
      );
    } catch (error) {
      replace(result, h('p', { class: 'alert', role: 'alert' }, `Could not check: ${problem(error)}`));
    }
  };

  replace(
    context.main,
    h('h1', { tabindex: -1 }, 'Policy'),
    h(
      'dl',
      { class: 'summary' },
      h('dt', {}, 'Version'),
      h('dd', {}, h('code', {}, policy.version)),
      h('dt', {}, 'Loaded'),
      h('dd', {}, when(policy.loadedAt)),
      h('dt', {}, 'Files'),
      h('dd', {}, policy.files.join(', ')),
    ),
    policy.lastError
      ? h(
          'div',
          { class: 'alert' },
          h('h2', {}, 'The last reload failed'),
          h('p', {}, 'At ', when(policy.lastError.at), '; the version above stays in force.'),
          issueList(policy.lastError.issues),
        )
      : h('p', {}, 'The last reload succeeded.'),
    h(
      'section',
      { 'aria-labelledby': 'check-heading' },
      h('h2', { id: 'check-heading' }, 'Check a changed file'),
      h(
        'form',
        { onsubmit: (event: Event) => void check(event) },
        field('File name', fileName, 'The file it replaces (or a new one), e.g. plans.yaml'),
        fileList,
        field('Upload a file', upload),
        field('YAML', text, 'Paste the whole changed file, or upload it.'),
        h('button', { type: 'submit' }, 'Check'),
      ),
      result,
    ),
    table(
      'Features',
      ['Key', 'Name', 'Type', 'Default'],
      policy.features.map((feature) => [
        h('code', {}, feature.key),
        feature.name,
        feature.type,
        valueText(feature.default),
      ]),
    ),
  );
}
