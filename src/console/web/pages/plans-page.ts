// Plans and their versions: how many tenants are on each version, and a migration between two
// versions of a plan — first a dry run listing each tenant with what it would lose and gain,
// then the apply button, which moves them (each move audited, their streams told to refetch).

import { call, get } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { problem, type PageContext } from '../page.js';
import { valueText, type PolicyView } from '../views.js';

interface PlanVersionsView {
  readonly plan: string;
  readonly version: number;
  readonly versions: readonly {
    readonly version: number;
    readonly current: boolean;
    readonly extends: string | null;
    readonly tenants: number;
  }[];
}

interface FeatureChangeView {
  readonly feature: string;
  readonly before: string | number | boolean;
  readonly after: string | number | boolean;
}

interface MigrationView {
  readonly plan: string;
  readonly from: number;
  readonly to: number;
  readonly dryRun: boolean;
  readonly tenants: readonly {
    readonly tenant: string;
    readonly loses: readonly FeatureChangeView[];
    readonly gains: readonly FeatureChangeView[];
  }[];
  readonly moved: number;
}

const changes = (list: readonly FeatureChangeView[]) =>
  list.length === 0
    ? 'nothing'
    : h(
        'ul',
        {},
        list.map((change) =>
          h('li', {}, h('code', {}, change.feature), `: ${valueText(change.before)} → ${valueText(change.after)}`),
        ),
      );

export async function plansPage(context: PageContext, notice?: string): Promise<void> {
  const policy = await get<PolicyView>('/api/admin/policy');
  const plans = await Promise.all(
    policy.plans.map((plan) => get<PlanVersionsView>(`/api/admin/plans/${encodeURIComponent(plan.key)}/versions`)),
  );
  const reload = async (message: string) => {
    await plansPage(context, message);
    context.announce(message);
    (context.main.querySelector('[data-notice]') as HTMLElement | null)?.focus();
  };
  replace(
    context.main,
    h('h1', { tabindex: -1 }, 'Plans'),
    notice ? h('p', { class: 'ok', 'data-notice': '', tabindex: -1 }, notice) : null,
    h(
      'p',
      {},
      'A plan keeps the versions tenants bought. New tenants get the current version; a migration moves the tenants of one version to another.',
    ),
    plans.map((plan) => planSection(plan, reload)),
  );
}

function planSection(plan: PlanVersionsView, reload: (message: string) => Promise<void>): HTMLElement {
  const id = `plan-${plan.plan}`;
  const rows = plan.versions.map((version) => [
    String(version.version),
    version.current ? 'current' : '',
    version.extends ?? '—',
    String(version.tenants),
  ]);
  const section = h(
    'section',
    { 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, plan.plan),
    table(`Versions of ${plan.plan}`, ['Version', 'Current', 'Extends', 'Tenants'], rows),
  );
  if (plan.versions.length > 1) section.append(migrationForm(plan, reload));
  return section;
}

function migrationForm(plan: PlanVersionsView, reload: (message: string) => Promise<void>): HTMLElement {
  const numbers = plan.versions.map((version) => version.version);
  const versionSelect = (name: string, selected: number) =>
    h(
      'select',
      { name },
      numbers.map((n) => h('option', { value: n, selected: n === selected }, String(n))),
    );
  const oldest = numbers.find((n) => n !== plan.version) ?? plan.version;
  const from = versionSelect('from', oldest);
  const to = versionSelect('to', plan.version);
  const result = h('div', { 'aria-live': 'polite' });
  const migrate = (dryRun: boolean) =>
    call<MigrationView>('POST', `/api/admin/plans/${encodeURIComponent(plan.plan)}/migrations`, {
      body: { from: Number(from.value), to: Number(to.value), dryRun },
    });
  const apply = async () => {
    try {
      const { body } = await migrate(false);
      await reload(`Moved ${body.moved} tenant(s) of ${plan.plan} from version ${body.from} to ${body.to}.`);
    } catch (error) {
      replace(result, h('p', { class: 'alert', role: 'alert' }, `Not migrated: ${problem(error)}`));
    }
  };
  const dryRun = async (event: Event) => {
    event.preventDefault();
    replace(result);
    try {
      const { body } = await migrate(true);
      const rows = body.tenants.map((tenant) => [
        h('a', { href: `#/tenants/${encodeURIComponent(tenant.tenant)}` }, tenant.tenant),
        changes(tenant.loses),
        changes(tenant.gains),
      ]);
      replace(
        result,
        table(
          `Dry run: ${plan.plan} ${body.from} → ${body.to}, ${body.tenants.length} tenant(s) would move`,
          ['Tenant', 'Loses', 'Gains'],
          rows,
          'no tenant is on that version.',
        ),
        body.tenants.length > 0
          ? h(
              'button',
              { type: 'button', onclick: () => void apply() },
              `Apply: move ${body.tenants.length} tenant(s) to version ${body.to}`,
            )
          : null,
      );
    } catch (error) {
      replace(result, h('p', { class: 'alert', role: 'alert' }, `Dry run failed: ${problem(error)}`));
    }
  };
  return h(
    'form',
    { 'aria-label': `Migrate tenants of ${plan.plan}`, onsubmit: dryRun },
    h('h3', {}, `Migrate tenants of ${plan.plan}`),
    h(
      'div',
      { class: 'row' },
      field('From version', from),
      field('To version', to),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'secondary' }, 'Dry run')),
    ),
    result,
  );
}
