// Markdown for model output, rendered safely: markdown-it with raw HTML off
// (any `<tag>` in the text is shown as text) and its link validation (no
// `javascript:` or `data:` links); links open in a new tab without an opener.

import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });

const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  if (token) {
    token.attrSet('target', '_blank');
    token.attrSet('rel', 'noopener noreferrer nofollow');
  }
  return defaultLinkOpen(tokens, idx, options, env, self);
};

/** HTML for `text`, safe to assign to `innerHTML`. */
export function renderMarkdown(text: string): string {
  return md.render(text);
}
