package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// envName is the environment variable of a flag: LATTICE_ and the flag name in
// upper case with dashes as underscores.
func envName(flag string) string {
	return "LATTICE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnvAndFile fills every flag the command line did not set, from its
// environment variable or else from the YAML file named by --config (or
// LATTICE_CONFIG). The flags' values are parsed by the flags themselves, so a
// value means the same wherever it comes from.
func applyEnvAndFile(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	path, err := configPath(fs, lookupEnv)
	if err != nil {
		return err
	}
	var file map[string][]string
	if path != "" {
		if file, err = readConfigFile(fs, path); err != nil {
			return err
		}
	}
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Name == configFlag || f.Name == "help" {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok && v != "" {
			if err := setFlag(f, splitList(f, v)); err != nil {
				firstErr = fmt.Errorf("lattice: environment %s=%q: %w", envName(f.Name), v, err)
			}
			return
		}
		if vals, ok := file[f.Name]; ok {
			if err := setFlag(f, vals); err != nil {
				firstErr = fmt.Errorf("lattice: config file %s: %s: %w", path, f.Name, err)
			}
		}
	})
	return firstErr
}

func configPath(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (string, error) {
	f := fs.Lookup(configFlag)
	if f.Changed {
		return f.Value.String(), nil
	}
	v, _ := lookupEnv(envName(configFlag))
	return v, nil
}

// readConfigFile reads a YAML mapping of flag names to a scalar or a list of
// scalars. Unknown keys are errors, so a misspelt key is not silently ignored.
func readConfigFile(fs *pflag.FlagSet, path string) (map[string][]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lattice: config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("lattice: config file %s: %w", path, err)
	}
	out := map[string][]string{}
	if len(doc.Content) == 0 { // empty file
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("lattice: config file %s: line %d: want a mapping of flag names to values", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if fs.Lookup(k.Value) == nil || k.Value == configFlag || k.Value == "help" {
			return nil, fmt.Errorf("lattice: config file %s: line %d: unknown key %q (keys are the flag names of lattice serve)", path, k.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("lattice: config file %s: line %d: key %q given twice", path, k.Line, k.Value)
		}
		vals, err := scalars(v)
		if err != nil {
			return nil, fmt.Errorf("lattice: config file %s: line %d: %s: %w", path, v.Line, k.Value, err)
		}
		if vals != nil {
			out[k.Value] = vals
		}
	}
	return out, nil
}

// scalars returns the text of a scalar or of a list of scalars; nil for null.
func scalars(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		vals := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("list items must be plain values")
			}
			vals = append(vals, item.Value)
		}
		return vals, nil
	}
	return nil, fmt.Errorf("want a value or a list of values")
}

// splitList splits a comma-separated environment value for list flags.
func splitList(f *pflag.Flag, v string) []string {
	if _, ok := f.Value.(pflag.SliceValue); !ok {
		return []string{v}
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// setFlag sets f to vals: a list flag takes them all, any other flag exactly one.
func setFlag(f *pflag.Flag, vals []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(vals)
	}
	if len(vals) != 1 {
		return fmt.Errorf("want one value, got a list of %d", len(vals))
	}
	return f.Value.Set(vals[0])
}
