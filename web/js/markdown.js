// A safe markdown subset for chat text: **bold**, *italics* / _italics_, `inline code`,
// ```fenced code```, [links](https://…) and bare http(s) URLs, line breaks.
// `parse` is pure (a tree of plain objects, no DOM); `toDom` builds nodes from it with
// createElement and text nodes only, so HTML in a message is always shown as text.

/** Link schemes that may become a link; anything else stays text. */
const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);
/** Longer input is parsed as far as this, the rest kept as plain text (bounded work). */
export const MAX_PARSE = 20_000;

/** `url` as a safe href (http, https, mailto; absolute only), or null. */
export function safeHref(url) {
  if (typeof url !== 'string' || !url || /[\s\u0000-\u001f]/.test(url)) return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return SAFE_SCHEMES.has(parsed.protocol) ? parsed.href : null;
}

const FENCE = /```([\w+#.-]{0,20})[ \t]*\n?([\s\S]*?)```/g;

// Inline tokens, earliest match wins: code, link, bold, italics (* and _), bare URL, newline.
const INLINE = new RegExp(
  [
    '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)', // 1, 2: code span
    '\\[([^\\[\\]\\n]+)\\]\\(([^()\\s]+)\\)', // 3, 4: [label](url)
    '\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*', // 5: bold
    '\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*', // 6: italics
    '(?<![\\w])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\w])', // 7: italics
    "(https?:\\/\\/[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?'\"])", // 8: bare URL
    '(\\n)', // 9: line break
  ].join('|'),
  'g',
);

function pushText(nodes, text) {
  if (!text) return;
  const last = nodes[nodes.length - 1];
  if (last && last.type === 'text') last.text += text;
  else nodes.push({ type: 'text', text });
}

/** Inline markdown to nodes; `inLink`: no links inside a link's label. */
export function parseInline(text, inLink = false) {
  const nodes = [];
  const pattern = new RegExp(INLINE.source, 'g');
  let at = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    const [whole] = match;
    const start = match.index;
    let node = null;
    if (match[1] !== undefined) {
      node = { type: 'code', text: match[2].replace(/^ (.*) $/s, '$1') };
    } else if (match[3] !== undefined) {
      const href = inLink ? null : safeHref(match[4]);
      node = href
        ? { type: 'link', href, children: parseInline(match[3], true) }
        : { type: 'text', text: whole };
    } else if (match[5] !== undefined) {
      node = { type: 'strong', children: parseInline(match[5], inLink) };
    } else if (match[6] !== undefined || match[7] !== undefined) {
      node = { type: 'em', children: parseInline(match[6] ?? match[7], inLink) };
    } else if (match[8] !== undefined) {
      const href = inLink ? null : safeHref(match[8]);
      node = href
        ? { type: 'link', href, children: [{ type: 'text', text: match[8] }] }
        : { type: 'text', text: whole };
    } else {
      node = { type: 'br' };
    }
    pushText(nodes, text.slice(at, start));
    if (node.type === 'text') pushText(nodes, node.text);
    else nodes.push(node);
    at = start + whole.length;
  }
  pushText(nodes, text.slice(at));
  return nodes;
}

/**
 * Markdown to a tree: `{type: 'text', text} | {type: 'br'} | {type: 'code', text} |
 * {type: 'pre', lang, text} | {type: 'strong'|'em', children} | {type: 'link', href, children}`.
 * @param {string} source
 * @returns {Array<object>}
 */
export function parse(source) {
  const text = String(source ?? '');
  const head = text.slice(0, MAX_PARSE);
  const nodes = [];
  const fence = new RegExp(FENCE.source, 'g');
  let at = 0;
  let match;
  while ((match = fence.exec(head)) !== null) {
    nodes.push(...parseInline(head.slice(at, match.index).replace(/\n$/, '')));
    nodes.push({ type: 'pre', lang: match[1] || '', text: match[2].replace(/\n$/, '') });
    at = match.index + match[0].length;
    if (head[at] === '\n') at += 1;
  }
  nodes.push(...parseInline(head.slice(at)));
  if (text.length > MAX_PARSE) pushText(nodes, text.slice(MAX_PARSE));
  return nodes;
}

/** The plain text of a tree (what a screen reader or a notification would say). */
export function plainText(nodes) {
  return nodes
    .map((node) => {
      if (node.type === 'br') return '\n';
      if (node.children) return plainText(node.children);
      return node.text;
    })
    .join('');
}

/**
 * DOM nodes for a tree, built with createElement and text nodes only.
 * @param {Array<object>} nodes from `parse`
 * @param {Document} [doc]
 * @returns {Node[]}
 */
export function toDom(nodes, doc = globalThis.document) {
  return nodes.map((node) => {
    switch (node.type) {
      case 'br':
        return doc.createElement('br');
      case 'code': {
        const code = doc.createElement('code');
        code.className = 'md-code';
        code.textContent = node.text;
        return code;
      }
      case 'pre': {
        const pre = doc.createElement('pre');
        pre.className = 'md-pre';
        const code = doc.createElement('code');
        if (node.lang) code.dataset.lang = node.lang;
        code.textContent = node.text;
        pre.append(code);
        return pre;
      }
      case 'strong':
      case 'em': {
        const element = doc.createElement(node.type);
        element.append(...toDom(node.children, doc));
        return element;
      }
      case 'link': {
        const href = safeHref(node.href);
        if (!href) return doc.createTextNode(plainText(node.children));
        const link = doc.createElement('a');
        link.href = href;
        link.rel = 'noopener noreferrer';
        link.target = '_blank';
        link.append(...toDom(node.children, doc));
        return link;
      }
      default:
        return doc.createTextNode(String(node.text ?? ''));
    }
  });
}

/** Markdown straight to DOM nodes. */
export function render(source, doc = globalThis.document) {
  return toDom(parse(source), doc);
}
