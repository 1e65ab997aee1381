// Preloaded into a child server (startChildServer's `preload`) by the access-log tests: SIGUSR2
// throws an exception nothing catches, the fatal error a bug would cause.

process.on('SIGUSR2', () => {
  setImmediate(() => {
    throw new Error('injected fault');
  });
});
