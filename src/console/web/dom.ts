// Building the page without innerHTML: every text from the API lands as text, never as markup.

type Child = Node | string | number | boolean | null | undefined | readonly Child[];
type Attributes = Record<string, string | number | boolean | undefined | null | ((event: Event) => void)>;

/** An element with attributes (on* names take listeners; false/null/undefined leave it out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A table with a caption and column headers; rows of cells. */
export function table(
  caption: string,
  headers: readonly string[],
  rows: readonly (readonly Child[])[],
  empty = 'None.',
): HTMLElement {
  if (rows.length === 0) return h('p', {}, `${caption}: ${empty}`);
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((header) => h('th', { scope: 'col' }, header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((cells) =>
        h(
          'tr',
          {},
          cells.map((cell) => h('td', {}, cell)),
        ),
      ),
    ),
  );
}

/** A labelled form control: the label names it for screen readers and clicks. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const hintElement = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintElement);
}

/** A date and time in the reader's locale, with the ISO value kept for copy and paste. */
export function when(iso: string | null | undefined, none = 'never'): Child {
  if (!iso) return none;
  const date = new Date(iso);
  return h('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

/** Any value from the API as words: objects as definition lists, arrays as lists. */
export function generic(value: unknown): Child {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value))
    return value.length === 0
      ? 'none'
      : h(
          'ul',
          {},
          value.map((item) => h('li', {}, generic(item))),
        );
  if (typeof value === 'object') {
    return h(
      'dl',
      { class: 'generic' },
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        h('dt', {}, words(key)),
        h('dd', {}, generic(item)),
      ]),
    );
  }
  return String(value);
}

/** camelCase and snake_case keys as words: "resetsAt" → "resets at". */
export function words(key: string): string {
  return key
    .replace(/_/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}
