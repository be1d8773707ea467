package workflows

import (
	"fmt"
	"strings"
)

// ParseMultienv reads what a multienv step's command prints: NAME=VALUE
// pairs, separated by commas as Atlantis has them, or by line ends. A value
// in double quotes may hold commas and line ends, and \" and \\ for " and
// \; one in single quotes holds everything up to the next single quote. An
// unquoted value is taken as it is, up to the next comma or line end. Space
// around a pair is ignored, as is an empty output, which sets nothing.
//
// It returns the variables as NAME=VALUE, in order. Its errors say which
// pair is wrong but quote nothing of the output, which may hold secrets.
func ParseMultienv(out string) ([]string, error) {
	var vars []string
	rest := out
	for n := 1; ; n++ {
		rest = strings.TrimLeft(rest, " \t\r\n,")
		if rest == "" {
			return vars, nil
		}
		name, after, ok := strings.Cut(rest, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n,\"'") {
			return nil, fmt.Errorf("pair %d is not NAME=VALUE", n)
		}
		var value string
		switch {
		case strings.HasPrefix(after, `"`):
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) && (after[i+1] == '"' || after[i+1] == '\\') {
					i++
				}
				b.WriteByte(after[i])
			}
			if i == len(after) {
				return nil, fmt.Errorf("pair %d has no closing double quote", n)
			}
			value, rest = b.String(), after[i+1:]
		case strings.HasPrefix(after, "'"):
			end := strings.IndexByte(after[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("pair %d has no closing single quote", n)
			}
			value, rest = after[1:1+end], after[2+end:]
		default:
			end := strings.IndexAny(after, ",\n")
			if end < 0 {
				end = len(after)
			}
			value, rest = strings.TrimRight(after[:end], " \t\r"), after[end:]
		}
		if r := strings.TrimLeft(rest, " \t\r"); r != "" && r[0] != ',' && r[0] != '\n' {
			return nil, fmt.Errorf("pair %d has more after its quoted value than a comma or line end", n)
		}
		vars = append(vars, name+"="+value)
	}
}
