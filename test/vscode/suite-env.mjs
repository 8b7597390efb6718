// The environment the in-VS-Code suite expects, set by both launchers' callers (test/vscode/run.mjs,
// launch-electron.mjs; .vscode/launch.json "Extension Tests" repeats it): a somaxconn below the
// fixture's backlog (2048), so the kernel-limit problem shows whatever this machine's limit is.
export const SUITE_ENV = {
  UNICORN_KERNEL_LIMITS: '{"somaxconn":128}',
};
