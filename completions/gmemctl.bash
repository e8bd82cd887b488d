# bash completion for gmemctl.  The words come from "gmemctl complete",
# which reads the tool's own option tables, so they never go stale.

_gmemctl()
{
	local cur prev cmd words
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmd=${COMP_WORDS[0]}
	# "--backend=gu" reaches us as "--backend" "=" "gu".
	if [[ $prev == = && $COMP_CWORD -ge 2 ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	elif [[ $cur == = ]]; then
		cur=
	fi

	if [[ $COMP_CWORD -eq 1 ]]; then
		words=$("$cmd" complete 2>/dev/null)
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi

	# Values for the options that take a known set.
	case $prev in
	--backend)
		COMPREPLY=($(compgen -W "guest_memfd memfd hugetlb auto" -- "$cur"))
		return ;;
	--policy)
		COMPREPLY=($(compgen -W "default bind preferred interleave" -- "$cur"))
		return ;;
	--page-size)
		COMPREPLY=($(compgen -W "2M 1G" -- "$cur"))
		return ;;
	--dir|--out)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--pid)
		local d=/run/gmem f pids=
		for f in "$d"/*.stats; do
			[[ -e $f ]] && f=${f##*/} && pids+=" ${f%.stats}"
		done
		COMPREPLY=($(compgen -W "$pids" -- "$cur"))
		return ;;
	esac

	if [[ $cur == -* ]]; then
		words=$("$cmd" complete "${COMP_WORDS[1]}" 2>/dev/null)
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		# "--size=" wants its value next, without a space.
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] &&
			compopt -o nospace 2>/dev/null
	fi
}
complete -F _gmemctl gmemctl
