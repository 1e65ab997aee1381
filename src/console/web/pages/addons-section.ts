// A tenant's add-ons on its page: each held quantity with where it comes from (an operator, or a
// billing subscription's item), a form to hold a quantity of one, and a button to stop holding
// an operator's. Billing's rows change in the billing system only, so they have no button.

import { call } from '../api.js';
import { field, h, replace, table, when } from '../dom.js';
import { problem } from '../page.js';
import type { AddonDefinitionView, TenantAddonView } from '../views.js';

/** The section, with `changed` called (to reload the page) after a change. */
export function addonsSection(
  base: string,
  plan: string,
  held: readonly TenantAddonView[],
  addons: readonly AddonDefinitionView[],
  changed: (message: string) => Promise<void>,
): HTMLElement {
  const message = h('div', { role: 'alert' });
  const remove = async (addon: string) => {
    replace(message);
    try {
      await call('DELETE', `${base}/addons/${encodeURIComponent(addon)}`);
      await changed(`Removed the add-on ${addon}.`);
    } catch (error) {
      replace(message, h('p', { class: 'alert' }, `Not removed: ${problem(error)}`));
    }
  };
  const rows = held.map((row) => [
    h('code', {}, row.addon),
    String(row.quantity),
    row.billing ? `${row.billing.provider} subscription ${row.billing.subscriptionId}` : 'operator',
    when(row.updatedAt),
    row.billing
      ? 'change it in the billing system'
      : h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'aria-label': `Remove the add-on ${row.addon}`,
            onclick: () => void remove(row.addon),
          },
          'Remove',
        ),
  ]);

  // The add-ons this plan may hold: the API refuses the others anyway.
  const offered = addons.filter((addon) => addon.availableOn === null || addon.availableOn.includes(plan));
  const select = h(
    'select',
    { name: 'addon' },
    offered.map((addon) =>
      h('option', { value: addon.key }, addon.name === addon.key ? addon.key : `${addon.name} (${addon.key})`),
    ),
  );
  const quantity = h('input', {
    type: 'number',
    name: 'quantity',
    min: 1,
    max: 10000,
    step: 1,
    value: 1,
    required: true,
  });
  const form = h(
    'form',
    {
      'aria-label': 'Hold an add-on',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        replace(message);
        try {
          await call('PUT', `${base}/addons/${encodeURIComponent(select.value)}`, {
            body: { quantity: Number(quantity.value) },
          });
          await changed(`Add-on ${select.value} held with quantity ${quantity.value}.`);
        } catch (error) {
          replace(message, h('p', { class: 'alert' }, `Not set: ${problem(error)}`));
        }
      },
    },
    h(
      'div',
      { class: 'row' },
      field('Add-on', select),
      field('Quantity', quantity, "replaces the operator's quantity; billing's add up with it"),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Set add-on')),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'addons-heading' },
    h('h2', { id: 'addons-heading' }, 'Add-ons'),
    table(
      'Add-ons held beside the plan; quantities of one add-on add up',
      ['Add-on', 'Quantity', 'From', 'Changed', 'Action'],
      rows,
      'none: the plan alone decides.',
    ),
    offered.length > 0 ? form : h('p', {}, `No add-on of the policy is available on ${plan}.`),
    message,
  );
}
