// Package archtest holds tests about the shape of the code base itself: every package
// has a doc comment, and sigma/ (the device protocol) imports no network and no storage.
// Further import rules between layers join it as those packages arrive.
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryPackageHasDocComment walks the module and requires a package comment in each
// package (STYLE.md: boundaries are tested). Generated code (protoc's, under a "Code
// generated ... DO NOT EDIT." line) is exempt: its documentation is the .proto file.
func TestEveryPackageHasDocComment(t *testing.T) {
	root := filepath.Join("..", "..")
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "signet-data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		dir := filepath.Dir(path)
		dirs[dir] = dirs[dir] || f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != ""
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found only %d packages; is the walk rooted right?", len(dirs))
	}
	for dir, documented := range dirs {
		if !documented {
			t.Errorf("package in %s has no doc comment", dir)
		}
	}
}

// TestSigmaImportsNoNetworkOrStorage keeps sigma/ a pure protocol package that a phone
// SDK or a test tool can embed: the standard library only, and of it no network and no
// database (STYLE.md: boundaries are tested). Its own files are checked directly; the
// whole dependency graph too when the go command is at hand.
func TestSigmaImportsNoNetworkOrStorage(t *testing.T) {
	dir := filepath.Join("..", "..", "sigma")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if why := sigmaForbids(path); why != "" {
				t.Errorf("%s imports %s: %s", filepath.Base(file), path, why)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("no Go files in %s", dir)
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Log("go command not found; transitive imports not checked")
		return
	}
	out, err := exec.Command(goCmd, "list", "-deps", "github.com/signet-auth/signet/sigma").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		if path == "github.com/signet-auth/signet/sigma" {
			continue
		}
		if why := sigmaForbids(path); why != "" {
			t.Errorf("sigma depends on %s: %s", path, why)
		}
	}
}

// sigmaForbids says why sigma/ may not depend on path, or "" if it may.
func sigmaForbids(path string) string {
	first, _, _ := strings.Cut(path, "/")
	switch {
	case path == "net" || strings.HasPrefix(path, "net/"):
		return "network access belongs to the device server, not the protocol"
	case strings.HasPrefix(path, "database/"):
		return "storage belongs to the caller (LookupDevice)"
	case strings.HasPrefix(path, "github.com/signet-auth/signet/"):
		return "sigma is public and must not depend on the server's packages"
	case strings.Contains(path, "pgx"), strings.Contains(path, "sqlite"), strings.Contains(path, "redis"):
		return "storage belongs to the caller (LookupDevice)"
	case strings.Contains(first, ".") && !strings.HasPrefix(path, "vendor/"):
		return "sigma uses the standard library only"
	}
	return ""
}
