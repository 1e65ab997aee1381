// Webhook endpoints: register one (its secret shown once), enable or disable, rotate the secret,
// remove; and one endpoint's delivery log with replay.

import { call, get, query } from '../api.js';
import { field, h, replace, table, when } from '../dom.js';
import { problem, type PageContext } from '../page.js';
import { WEBHOOK_EVENT_TYPES } from '../../../webhooks/webhook-event-types.js';

interface EndpointView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly description: string;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly failureStreak: number;
  readonly previousSecretUntil: string | null;
  readonly createdAt: string;
}

interface DeliveryView {
  readonly id: string;
  readonly eventId: string;
  readonly type: string;
  readonly tenantId: string;
  readonly status: string;
  readonly attempts: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly lastLatencyMs: number | null;
  readonly nextAttemptAt: string | null;
  readonly createdAt: string;
}

interface AttemptView {
  readonly at: string;
  readonly status: number | null;
  readonly error: string | null;
  readonly latencyMs: number;
  readonly outcome: string;
}

/** The secret of a new or rotated endpoint, shown once in an alert. */
function secretShown(secret: string, what: string): HTMLElement {
  return h(
    'div',
    { class: 'ok', role: 'alert' },
    h('p', {}, `${what}: copy the signing secret now, it is not shown again.`),
    h('p', {}, h('code', {}, secret)),
  );
}

export async function webhooksPage(context: PageContext, endpointId?: string): Promise<void> {
  if (endpointId) return deliveriesPage(context, endpointId);
  const { items } = await get<{ items: EndpointView[] }>('/api/admin/webhooks');
  const result = h('div', { 'aria-live': 'polite' });
  const act = async (work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      replace(result, h('p', { class: 'alert', role: 'alert' }, problem(error)));
    }
  };

  const url = h('input', {
    type: 'url',
    name: 'url',
    required: true,
    placeholder: 'https://hooks.example.com/entitle',
  });
  const description = h('input', { type: 'text', name: 'description', maxlength: 500 });
  const boxes = WEBHOOK_EVENT_TYPES.map((type) => h('input', { type: 'checkbox', name: 'events', value: type }));
  const form = h(
    'form',
    {
      'aria-label': 'New endpoint',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void act(async () => {
          const events = boxes.filter((box) => box.checked).map((box) => box.value);
          const { body } = await call<{ endpoint: EndpointView; secret: string }>('POST', '/api/admin/webhooks', {
            body: { url: url.value.trim(), events, description: description.value },
          });
          await webhooksPage(context);
          context.announce(`Endpoint ${body.endpoint.id} registered`);
          context.main.querySelector('[aria-live]')?.append(secretShown(body.secret, `Endpoint ${body.endpoint.id}`));
        });
      },
    },
    field('URL', url, 'https only; private and loopback addresses are refused'),
    field('Description', description),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Events'),
      boxes.map((box) => h('label', { class: 'check' }, box, ` ${box.value}`)),
    ),
    h('button', { type: 'submit' }, 'Register'),
  );

  const rows = items.map((endpoint) => [
    h('a', { href: `#/webhooks/${encodeURIComponent(endpoint.id)}` }, endpoint.id),
    endpoint.url,
    endpoint.events.join(', '),
    endpoint.enabled ? 'enabled' : `disabled: ${endpoint.disabledReason ?? ''}`,
    String(endpoint.failureStreak),
    h(
      'div',
      { class: 'row' },
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void act(async () => {
              await call('PATCH', `/api/admin/webhooks/${encodeURIComponent(endpoint.id)}`, {
                body: { enabled: !endpoint.enabled },
              });
              await webhooksPage(context);
            }),
        },
        endpoint.enabled ? 'Disable' : 'Enable',
      ),
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void act(async () => {
              const { body } = await call<{ secret: string; endpoint: EndpointView }>(
                'POST',
                `/api/admin/webhooks/${encodeURIComponent(endpoint.id)}/rotate-secret`,
              );
              replace(
                result,
                secretShown(
                  body.secret,
                  `New secret of ${endpoint.id} (the old one signs too until ${body.endpoint.previousSecretUntil ?? 'now'})`,
                ),
              );
            }),
        },
        'Rotate secret',
      ),
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            void act(async () => {
              if (!window.confirm(`Remove ${endpoint.url} and its delivery log?`)) return;
              await call('DELETE', `/api/admin/webhooks/${encodeURIComponent(endpoint.id)}`);
              await webhooksPage(context);
              context.announce('Endpoint removed');
            }),
        },
        'Remove',
      ),
    ),
  ]);

  replace(
    context.main,
    h('h1', { tabindex: -1 }, 'Webhooks'),
    result,
    table('Endpoints', ['ID', 'URL', 'Events', 'Status', 'Failures in a row', 'Actions'], rows, 'none registered.'),
    h('section', { 'aria-labelledby': 'new-endpoint' }, h('h2', { id: 'new-endpoint' }, 'Register an endpoint'), form),
  );
}

async function deliveriesPage(context: PageContext, endpointId: string): Promise<void> {
  const status = context.params.get('status') ?? '';
  const after = context.params.get('after') ?? '';
  const base = `/api/admin/webhooks/${encodeURIComponent(endpointId)}`;
  const endpoint = await get<EndpointView>(base);
  const page = await get<{ items: DeliveryView[]; nextCursor?: string }>(
    `${base}/deliveries${query({ status, after, limit: 50 })}`,
  );
  const result = h('div', { 'aria-live': 'polite' });
  const replay = async (body: Record<string, string>) => {
    try {
      const { body: answer } = await call<{ replayed: number }>('POST', `${base}/replay`, { body });
      replace(result, h('p', { class: 'ok', role: 'alert' }, `${answer.replayed} queued again.`));
    } catch (error) {
      replace(result, h('p', { class: 'alert', role: 'alert' }, problem(error)));
    }
  };
  const from = h('input', { type: 'datetime-local', name: 'from', required: true });
  const to = h('input', { type: 'datetime-local', name: 'to', required: true });
  const range = h(
    'form',
    {
      'aria-label': 'Replay a time range',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void replay({ from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString() });
      },
    },
    h('div', { class: 'row' }, field('From', from), field('To', to), h('button', { type: 'submit' }, 'Replay range')),
  );
  const attempts = h('div', { 'aria-live': 'polite' });
  const showAttempts = async (delivery: DeliveryView) => {
    try {
      const list = await get<{ items: AttemptView[] }>(
        `${base}/deliveries/${encodeURIComponent(delivery.id)}/attempts`,
      );
      replace(
        attempts,
        table(
          `Attempts of ${delivery.id} (${delivery.type}), newest first`,
          ['At', 'Outcome', 'Answer', 'Latency'],
          list.items.map((attempt) => [
            when(attempt.at),
            attempt.outcome,
            attempt.error ?? (attempt.status === null ? '—' : String(attempt.status)),
            `${attempt.latencyMs} ms`,
          ]),
          'none yet.',
        ),
      );
    } catch (error) {
      replace(attempts, h('p', { class: 'alert', role: 'alert' }, problem(error)));
    }
  };
  const rows = page.items.map((delivery) => [
    when(delivery.createdAt),
    delivery.type,
    delivery.tenantId,
    delivery.status,
    String(delivery.attempts),
    delivery.lastError ?? (delivery.lastStatus === null ? '—' : String(delivery.lastStatus)),
    delivery.lastLatencyMs === null ? '—' : `${delivery.lastLatencyMs} ms`,
    when(delivery.nextAttemptAt, '—'),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', onclick: () => void showAttempts(delivery) }, 'Attempts'),
      h('button', { type: 'button', onclick: () => void replay({ deliveryId: delivery.id }) }, 'Replay'),
    ),
  ]);
  const next = page.nextCursor
    ? h(
        'a',
        { href: `#/webhooks/${encodeURIComponent(endpointId)}${query({ status, after: page.nextCursor })}` },
        'Older',
      )
    : null;
  replace(
    context.main,
    h('h1', { tabindex: -1 }, `Deliveries to ${endpoint.url}`),
    h('p', {}, h('a', { href: '#/webhooks' }, 'All endpoints')),
    result,
    table(
      'Deliveries, newest first',
      ['Made', 'Event', 'Tenant', 'Status', 'Attempts', 'Last answer', 'Latency', 'Next try', 'Actions'],
      rows,
      'none yet.',
    ),
    attempts,
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, next),
    h('section', { 'aria-labelledby': 'replay-range' }, h('h2', { id: 'replay-range' }, 'Replay a time range'), range),
  );
}
