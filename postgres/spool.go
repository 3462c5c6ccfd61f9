package postgres

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// spool is the append-only file that holds journal writes while the
// database cannot be reached: one JSON record per line, fsynced before the
// write is acknowledged. Owned by the journal's writer goroutine.
type spool struct {
	path string
	f    *os.File
	size int64
}

func openSpool(path string) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open spool: %w", err)
	}
	// A last record without its newline was cut short by a crash before it
	// was acknowledged: drop it, so the next record starts on a new line.
	keep := int64(bytes.LastIndexByte(data, '\n') + 1)
	if keep != int64(len(data)) {
		if err := f.Truncate(keep); err != nil {
			f.Close()
			return nil, fmt.Errorf("open spool: drop torn record: %w", err)
		}
	}
	return &spool{path: path, f: f, size: keep}, nil
}

func (s *spool) empty() bool { return s.size == 0 }

// append writes records and fsyncs them.
func (s *spool) append(ops []*op) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one record per line
	for _, o := range ops {
		if o.Kind == opCreate {
			continue // a match is never created through the spool
		}
		if err := enc.Encode(o); err != nil {
			return fmt.Errorf("encode spool record: %w", err)
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	n, err := s.f.Write(buf.Bytes())
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync spool: %w", err)
	}
	return nil
}

// read returns every complete record. A last line without its newline is
// a write cut short by a crash: it was never acknowledged, so it is
// skipped.
func (s *spool) read() ([]*op, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	var out []*op
	r := bufio.NewReader(s.f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read spool: %w", err)
		}
		o := new(op)
		if err := json.Unmarshal(line, o); err != nil {
			return nil, fmt.Errorf("read spool: record %d: %w", len(out)+1, err)
		}
		out = append(out, o)
	}
}

// truncate empties the spool once its records are in the database.
func (s *spool) truncate() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync spool: %w", err)
	}
	s.size = 0
	return nil
}

// reject keeps a record the database refused beside the spool, for an
// operator to look at.
func (s *spool) reject(o *op) error {
	f, err := os.OpenFile(s.path+".rejected", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(o); err != nil {
		return err
	}
	return f.Sync()
}

func (s *spool) close() error { return s.f.Close() }
