// One tenant: plan (and changing it), every feature with its value, source and cause, the
// overrides with reason, actor and expiry, other sections as the API gives them, and the
// tenant's audit trail.

import { ApiError, call, get, query } from '../api.js';
import { field, h, replace, table, when } from '../dom.js';
import { problem, type PageContext } from '../page.js';
import {
  valueText,
  type AuditView,
  type FeatureDecisionView,
  type OverrideView,
  type PolicyView,
  type TenantAddonView,
  type TenantDetailView,
} from '../views.js';
import { addonsSection } from './addons-section.js';
import { auditRows, AUDIT_HEADERS } from './audit-rows.js';
import { conflictText, overrideForm } from './override-form.js';
import { reservationsSection, type ReservationView } from './reservations-section.js';
import { extraSections } from './tenant-sections.js';

interface Entitlements {
  readonly plan: string;
  readonly policyVersion: string;
  readonly features: readonly FeatureDecisionView[];
}

export async function tenantPage(context: PageContext, tenantId: string, notice?: string): Promise<void> {
  const base = `/api/admin/tenants/${encodeURIComponent(tenantId)}`;
  let tenant: TenantDetailView;
  try {
    tenant = await get<TenantDetailView>(base);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      replace(
        context.main,
        h('h1', { tabindex: -1 }, 'Tenant not found'),
        h('p', {}, `There is no tenant "${tenantId}". `, h('a', { href: '#/tenants' }, 'Back to tenants')),
      );
      return;
    }
    throw error;
  }
  const [entitlements, overrides, policy, audit, reservations, addons] = await Promise.all([
    get<Entitlements>(`${base}/entitlements`),
    get<{ items: OverrideView[] }>(`${base}/overrides`),
    get<PolicyView>('/api/admin/policy'),
    get<{ items: AuditView[] }>(`/api/admin/audit${query({ tenant: tenantId, limit: 20 })}`),
    get<{ items: ReservationView[] }>(`${base}/usage/reservations`),
    get<{ items: TenantAddonView[] }>(`${base}/addons`),
  ]);
  const byFeature = new Map(overrides.items.map((override) => [override.feature, override]));
  const reload = async (message: string) => {
    await tenantPage(context, tenantId, message);
    context.announce(message);
    (context.main.querySelector('[data-notice]') as HTMLElement | null)?.focus();
  };

  const form = overrideForm({
    tenantId,
    features: policy.features,
    overrides: byFeature,
    announce: context.announce,
    saved: reload,
  });

  const featureRows = entitlements.features.map((decision) => {
    const next = decision.type === 'boolean' ? !decision.value : decision.value;
    const label = decision.type === 'boolean' ? (decision.value ? 'Revoke' : 'Grant') : 'Change';
    return [
      h('span', {}, decision.featureName, h('br'), h('code', {}, decision.feature)),
      valueText(decision.value),
      decision.source,
      decision.cause,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'aria-label': `${label} ${decision.featureName}`,
          onclick: () => form.prepare(decision.feature, next),
        },
        label,
      ),
    ];
  });

  const removeMessage = h('div', { role: 'alert' });
  const remove = async (override: OverrideView) => {
    replace(removeMessage);
    try {
      await call(
        'DELETE',
        `${base}/overrides/${encodeURIComponent(override.feature)}${query({ reason: 'removed in the console' })}`,
        { headers: { 'if-match': `"${override.version}"` } },
      );
      await reload(`Removed the override of ${override.feature}: ${tenantId} gets its plan's value again.`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        const current = await get<OverrideView>(`${base}/overrides/${encodeURIComponent(override.feature)}`).catch(
          () => undefined,
        );
        replace(removeMessage, h('p', { class: 'alert' }, conflictText(current)));
      } else replace(removeMessage, h('p', { class: 'alert' }, `Not removed: ${problem(error)}`));
    }
  };
  const overrideRows = overrides.items.map((override) => [
    override.feature,
    valueText(override.value),
    override.reason,
    override.actor,
    override.expiresAt ? when(override.expiresAt) : 'no end',
    override.active ? 'yes' : 'no (expired)',
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'aria-label': `Remove the override of ${override.feature}`,
        onclick: () => void remove(override),
      },
      'Remove',
    ),
  ]);

  const planSelect = h(
    'select',
    { name: 'plan' },
    policy.plans.map((plan) =>
      h(
        'option',
        { value: plan.key, selected: plan.key === tenant.plan },
        plan.name === plan.key ? plan.key : `${plan.name} (${plan.key})`,
      ),
    ),
  );
  const planMessage = h('div', { role: 'alert' });
  const planForm = h(
    'form',
    {
      'aria-label': 'Change plan',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        replace(planMessage);
        try {
          await call('PATCH', base, { body: { plan: planSelect.value } });
          await reload(`Plan changed: ${tenantId} is now on ${planSelect.value}.`);
        } catch (error) {
          replace(planMessage, h('p', { class: 'alert' }, `Plan not changed: ${problem(error)}`));
        }
      },
    },
    h(
      'div',
      { class: 'row' },
      field('Plan', planSelect),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Change plan')),
    ),
    planMessage,
  );

  replace(
    context.main,
    h('h1', { tabindex: -1 }, `${tenant.name} (${tenant.id})`),
    notice ? h('p', { class: 'ok', 'data-notice': '', tabindex: -1 }, notice) : null,
    h(
      'dl',
      { class: 'summary' },
      h('dt', {}, 'Id'),
      h('dd', {}, tenant.id),
      h('dt', {}, 'Plan'),
      h('dd', {}, `${tenant.plan} version ${tenant.planVersion}`),
      h('dt', {}, 'Created'),
      h('dd', {}, when(tenant.createdAt)),
      h('dt', {}, 'Last changed'),
      h('dd', {}, when(tenant.updatedAt)),
      h('dt', {}, 'Policy version'),
      h('dd', {}, h('code', {}, entitlements.policyVersion)),
    ),
    planForm,
    h(
      'section',
      { 'aria-labelledby': 'features-heading' },
      h('h2', { id: 'features-heading' }, 'Features'),
      table('Every feature for this tenant, and why', ['Feature', 'Value', 'Source', 'Why', 'Action'], featureRows),
    ),
    h(
      'section',
      { 'aria-labelledby': 'overrides-heading' },
      h('h2', { id: 'overrides-heading' }, 'Overrides'),
      table(
        'Overrides',
        ['Feature', 'Value', 'Reason', 'By', 'Until', 'In force', 'Action'],
        overrideRows,
        'none: every feature comes from the plan.',
      ),
      removeMessage,
    ),
    form.element,
    addonsSection(base, tenant.plan, addons.items, policy.addons, reload),
    extraSections(tenant),
    reservationsSection(base, reservations.items, reload),
    h(
      'section',
      { 'aria-labelledby': 'audit-heading' },
      h('h2', { id: 'audit-heading' }, 'Audit trail'),
      table('Latest changes for this tenant', AUDIT_HEADERS, auditRows(audit.items)),
      h('p', {}, h('a', { href: `#/audit${query({ tenant: tenantId })}` }, 'Every audit row for this tenant')),
    ),
  );
}
