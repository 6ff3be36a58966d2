from chedaitong.cli import main

main()
