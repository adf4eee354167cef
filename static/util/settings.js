// On/off settings remembered in localStorage (as "tailcast.NAME" = "1" or "0").

export function setting(name, initial) {
  const stored = localStorage.getItem(`tailcast.${name}`);
  return stored === null ? initial : stored === "1";
}

export function remember(name, on) {
  localStorage.setItem(`tailcast.${name}`, on ? "1" : "0");
}
