// Package axe embeds axe-core, Deque's accessibility rules engine, so that browser tests
// can inject it into a page over the DevTools protocol and run it there. The script is
// vendored from the npm package at Version; README.md says how to update it.
package axe

import _ "embed"

// Version is the axe-core release vendored here.
const Version = "4.10.3"

//go:embed axe.min.js
var script string

// Script returns axe.min.js: evaluated in a page it defines the global axe.
func Script() string { return script }
