// Text from the store (tenant names, token names, a JWT's subject in audit rows) reaches a
// terminal: control characters are shown escaped, so none can move the cursor, recolour,
// retitle the window or hide text. Newlines and tabs of our own layout stay.

// C0 controls but tab and newline, DEL, and C1 controls (ESC's 8-bit forms).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `\x1b[31m` shows as the text "\x1b[31m". */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
