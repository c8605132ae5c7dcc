// Building DOM nodes without innerHTML: text always goes through text nodes.

/**
 * Create an element.
 * @param {string} tag
 * @param {{class?: string, id?: string, text?: string, title?: string, type?: string,
 *          dataset?: Record<string, string>, attrs?: Record<string, string>,
 *          on?: Record<string, EventListener>}} [props]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.id) node.id = props.id;
  if (props.title) node.title = props.title;
  if (props.type) node.setAttribute('type', props.type);
  if (props.text !== undefined) node.textContent = props.text;
  for (const [key, value] of Object.entries(props.dataset || {})) node.dataset[key] = value;
  for (const [key, value] of Object.entries(props.attrs || {})) node.setAttribute(key, value);
  for (const [event, handler] of Object.entries(props.on || {})) {
    node.addEventListener(event, handler);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Find an element by id or fail loudly: the shell in index.html must have it. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node;
}

/** Replace every child of `node`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
}
