package autograd

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteDot writes the graph behind v in Graphviz's DOT language (render
// with `dot -Tsvg`): one node per Var that requires grad, labelled with its
// name (the op that made it, or SetName's) and shape, an edge from each
// input to the op that used it. That is the graph Backward walks: frozen
// inputs (CLIP's weights, constants) are not part of it. Leaves are
// ellipses, ops boxes; retained nodes are filled, and nodes with hooks say
// how many.
func (v *Var) WriteDot(w io.Writer) error {
	order := topoOrder(v.node)
	id := make(map[*node]int, len(order))
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "digraph autograd {")
	fmt.Fprintln(bw, "\tnode [fontname=\"Helvetica\" fontsize=10];")
	for i, n := range order {
		id[n] = i
		name := n.name
		shape := "box"
		if n.backward == nil {
			shape = "ellipse"
			if name == "" {
				name = "leaf"
			}
		}
		label := fmt.Sprintf("%s\\n%v", dotEscape(name), n.shape)
		if len(n.hooks) > 0 {
			label += fmt.Sprintf("\\n%d hook(s)", len(n.hooks))
		}
		style := ""
		if n.retain {
			style = " style=filled fillcolor=lightblue"
		}
		fmt.Fprintf(bw, "\tn%d [label=\"%s\" shape=%s%s];\n", i, label, shape, style)
	}
	for _, n := range order {
		for _, p := range n.parents {
			fmt.Fprintf(bw, "\tn%d -> n%d;\n", id[p], id[n])
		}
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// dotEscape makes s safe inside a DOT double-quoted string.
func dotEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
