package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// console serialises the output of the dev command and of its children, one
// whole line at a time.
type console struct {
	mu          sync.Mutex
	out, errOut io.Writer
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// prefixWriter writes each complete line to w behind a prefix; Flush writes
// what is left of an unterminated last line.
type prefixWriter struct {
	con    *console
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	i := bytes.LastIndexByte(p.buf, '\n')
	if i < 0 {
		return len(b), nil
	}
	lines := p.buf[:i+1]
	p.con.mu.Lock()
	defer p.con.mu.Unlock()
	for len(lines) > 0 {
		j := bytes.IndexByte(lines, '\n')
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, lines[:j+1]); err != nil {
			return 0, err
		}
		lines = lines[j+1:]
	}
	p.buf = append(p.buf[:0], p.buf[i+1:]...)
	return len(b), nil
}

// Flush writes an unterminated last line.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.Write([]byte{'\n'})
	}
}

// child is one `lattice serve` process of the dev cluster.
type child struct {
	node devNode
	cmd  *exec.Cmd
	// err is the result of Wait; read it only after the child was received
	// from the exit channel.
	err error
}

// startChild starts exe with args in its own process group, its output
// prefixed with the node's name, and reports on exited once it has been reaped.
func startChild(n devNode, exe string, args, env []string, con *console, exited chan<- *child) (*child, error) {
	prefix := fmt.Sprintf("%-6s| ", n.Name)
	stdout := &prefixWriter{con: con, w: con.out, prefix: prefix}
	stderr := &prefixWriter{con: con, w: con.errOut, prefix: prefix}
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A grandchild holding the output pipes must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lattice dev: starting %s: %w", n.Name, err)
	}
	c := &child{node: n, cmd: cmd}
	go func() {
		c.err = cmd.Wait()
		stdout.Flush()
		stderr.Flush()
		exited <- c
	}()
	return c, nil
}

// describeExit says how a child ended.
func (c *child) describeExit() string {
	if c.err == nil {
		return "stopped"
	}
	return "exited: " + c.err.Error()
}
