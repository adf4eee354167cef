// Small formatting helpers shared by the components.

export function bytes(n) {
  if (!(n >= 0)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`;
}

export function rate(perSecond) {
  if (perSecond < 0.05) return "0/s";
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  if (perSecond < 10000) return `${Math.round(perSecond)}/s`;
  return `${(perSecond / 1000).toFixed(0)}k/s`;
}

/** An element with a class and text: the only way the components make text. */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
