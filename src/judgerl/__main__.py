from judgerl.cli.main import main

main()
