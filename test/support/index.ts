// The one support module of the process tests (and of the few unit tests that need a temp
// folder): import everything from here.
//
//   wait.ts    sleep, waitUntil, isAlive
//   files.ts   temp folders, seeded databases, candidates, labels, integrity, leftovers
//   serve.ts   a real `hotswap serve` and the real CLI
//   http.ts    requests and load (plain, and tracked per worker)
//   socket.ts  the control socket in the gem's framing, by hand
//   generations.ts  a database's .hotswap/ folder, its manifest, history over the socket
//   faults.ts  the fault kit: checks after a fault, kills on log lines, report()
//   ecosystem.ts  example apps (frameworks, ORMs) swapped under load
//   fleet.ts   hosts on this machine: one sshd per loopback address, ssh, serve over ssh
//   fleet-run.ts  those hosts serving, a coordinator folder, what a fleet test checks after
//   fleet-app.ts  the checks after a fleet fault, load on every host, faults timed on a step
//   netns.ts   a test file re-run in its own network namespace; a host cut off there
//   prometheus.ts  a strict parser of the Prometheus text format; GETs of the metrics listener
//   tmux.ts    a command on a terminal whose screen is read back (monit); a process's CPU time
//   systemd.ts a unit's [Service] settings, read back

export * from './wait.js'
export * from './files.js'
export * from './serve.js'
export * from './http.js'
export * from './socket.js'
export * from './generations.js'
export * from './faults.js'
export * from './ecosystem.js'
export * from './fleet.js'
export * from './fleet-app.js'
export * from './netns.js'
export * from './fleet-run.js'
export * from './prometheus.js'
export * from './tmux.js'
export * from './systemd.js'
