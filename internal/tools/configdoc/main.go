// Command configdoc writes docs/config.md, the reference of Spillway's
// configuration file. It reads the config types, their doc comments and
// yaml tags from the policy package's source, starting at type Config, and
// reads every default back from configs that policy.Parse filled in, so
// that the reference follows the code by construction. Its test fails when
// docs/config.md is stale.
//
// Run it from anywhere in the module:
//
//	go run ./internal/tools/configdoc -o docs/config.md
//
// Without -o it writes to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "write the reference to this file instead of stdout")
	flag.Parse()
	if err := run(*out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

// run generates the reference and writes it to the file out, or to stdout
// when out is empty. The file is replaced only once generation succeeded.
func run(out string, stdout io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	doc, err := generate(root)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(doc)
		return err
	}
	return writeFile(out, doc)
}

// generate returns the reference for the module at root.
func generate(root string) ([]byte, error) {
	s, err := loadSchema(filepath.Join(root, "policy"))
	if err != nil {
		return nil, err
	}
	fields, err := s.fields("Config")
	if err != nil {
		return nil, fmt.Errorf("reading the config types:\n%w", err)
	}
	defaults, err := readDefaults(fields, probes)
	if err != nil {
		return nil, fmt.Errorf("reading the defaults:\n%w", err)
	}
	examples, err := readExamples(filepath.Join(root, quickstart))
	if err != nil {
		return nil, err
	}
	return render(fields, defaults, examples), nil
}

// moduleRoot finds the directory of go.mod at or above the working
// directory, so that the command runs from anywhere in the module, its
// test included.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the module: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// writeFile replaces path with data through a temporary file beside it,
// so that a failed write leaves the old file whole.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".configdoc-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
