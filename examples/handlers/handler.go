// A kea-hook-runscript handler ("persistent": true) in Go: for every event it appends the hook
// point and the event's variables to $HANDLER_LOG (else stderr, which goes to Kea's log) and
// replies "exit 0". Build: go build -o handler handler.go
package main

import (
	"bufio"
	"os"
)

func main() {
	log := os.Stderr
	if path := os.Getenv("HANDLER_LOG"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0600)
		if err != nil {
			panic(err) // the hook logs this and restarts us with backoff
		}
		log = f
	}
	in := bufio.NewReaderSize(os.Stdin, 65536)
	var entry []byte // this record so far, as log lines
	for {
		field, err := in.ReadBytes(0) // one field with its NUL: the hook point, NAME=value, ...
		if err != nil {
			return // stdin closed: Kea unloads, we exit
		}
		if len(field) > 1 {
			if entry == nil {
				entry = []byte("== ")
			}
			entry = append(append(entry, field[:len(field)-1]...), '\n')
			continue
		}
		log.Write(entry) // the empty field ended the record; one write keeps it whole
		entry = nil
		os.Stdout.WriteString("exit 0\n") // unbuffered, so sent at once; "exit 3" -> exit-codes "3"
	}
}
